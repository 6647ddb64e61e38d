"""Idefics2: a SigLIP-style tower whose patch features a perceiver resampler compresses into a fixed number of latent
tokens per view (the picture's four quadrants, then the whole picture); a Mistral decoder."""

from __future__ import annotations

from transformers import (
    Idefics2Config,
    Idefics2ForConditionalGeneration,
    Idefics2Processor,
    LlamaTokenizer,
    PreTrainedConfig,
    ProcessorMixin,
)

from ..tokenizer import build_tokenizer
from .common import TEXT, VISION, Recipe, build_image_processor, text_config
from .idefics3 import _TURNS

LATENTS = 8
"""Latent tokens the resampler makes of each view, whatever its size: its image tokens."""


def _idefics2() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Idefics2: the picture split into its four quadrants, then the whole picture (``do_image_splitting``), each
    resized to a longest side of 32 px (at least 16 px), encoded in 4 px patches and resampled into 8 latent tokens.

    An image is ``<fake_token_around_image>`` + 8 ``<image>`` per view, the 5 views separated by single
    ``<fake_token_around_image>``: 40 image tokens for any picture. The resampler's latents are learned queries that
    attend to every patch of their view: an image token has no place inside its view.
    """
    tokenizer = build_tokenizer(
        LlamaTokenizer,
        "sentencepiece",
        {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<unk>"},
        ("<fake_token_around_image>", "<image>", "<end_of_utterance>"),
        add_bos_token=True,
    )
    image_processor = build_image_processor(
        "Idefics2ImageProcessor", size={"shortest_edge": 16, "longest_edge": 32}, do_image_splitting=True
    )
    processor = Idefics2Processor(image_processor, tokenizer, image_seq_len=LATENTS, chat_template=_TURNS)
    config = Idefics2Config(
        text_config=text_config(tokenizer, model_type="mistral"),
        vision_config={**VISION, "image_size": 32, "patch_size": 4},
        perceiver_config={
            "hidden_size": TEXT["hidden_size"],
            "resampler_n_latents": LATENTS,
            "resampler_depth": 2,
            "resampler_n_heads": TEXT["num_attention_heads"],
            "resampler_head_dim": TEXT["head_dim"],
            "num_key_value_heads": TEXT["num_key_value_heads"],
        },
        image_token_id=processor.image_token_id,  # type: ignore[attr-defined]
    )
    return config, processor


IDEFICS2 = Recipe(Idefics2ForConditionalGeneration, _idefics2)
