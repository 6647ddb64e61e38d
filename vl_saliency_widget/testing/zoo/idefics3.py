"""Idefics3 and SmolVLM: pictures cut into square tiles plus a global view, each tile's patches pixel-shuffled into a
few image tokens between tile tags; a Llama decoder."""

from __future__ import annotations

from collections.abc import Callable

from transformers import (
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3Processor,
    PreTrainedConfig,
    ProcessorMixin,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
    SmolVLMProcessor,
    TokenizersBackend,
)
from transformers.models.smolvlm.video_processing_smolvlm import SmolVLMVideoProcessor

from ..tokenizer import build_tokenizer
from .common import VISION, Recipe, build_image_processor, processor_with_video, text_config

_TOKENS = (
    "<fake_token_around_image>",
    "<image>",
    "<end_of_utterance>",
    "<global-img>",
    *(f"<row_{row}_col_{col}>" for row in range(1, 7) for col in range(1, 7)),
)
"""The special tokens of Idefics3 and SmolVLM: tile delimiter, placeholder, end of turn, global view, tile tags."""

_TURNS = r"""
{%- for message in messages -%}
{{ message['role'] | capitalize }}
{%- if message['content'] is string -%}{{ ': ' + message['content'] }}
{%- else -%}
{{ ':' if message['content'][0]['type'] == 'image' else ': ' }}
{%- for item in message['content'] -%}
{%- if item['type'] == 'image' -%}{{ '<image>' }}
{%- elif item['type'] == 'text' -%}{{ item['text'] }}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{{ '<end_of_utterance>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ 'Assistant:' }}{%- endif -%}"""
"""Idefics3 and SmolVLM, after their first token: ``User:<image>What ...?<end_of_utterance>\nAssistant:``."""

_PATCH = 4
"""Pixels per side of a patch of the tower."""


def _config(
    config_class: Callable[..., PreTrainedConfig], processor: ProcessorMixin, tile: int, scale_factor: int
) -> PreTrainedConfig:
    """The config of a tower on ``tile`` px tiles of 4 px patches, pixel-shuffled ``scale_factor`` x
    ``scale_factor``, and a Llama decoder sized to ``processor``'s tokenizer."""
    return config_class(
        text_config=text_config(processor.tokenizer, model_type="llama"),  # type: ignore[attr-defined]
        vision_config={**VISION, "image_size": tile, "patch_size": _PATCH},
        scale_factor=scale_factor,
        image_token_id=processor.image_token_id,  # type: ignore[attr-defined]
    )


def _idefics3() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Idefics3 (Llama 3): images are split into 32 px tiles of 8 x 8 patches, pixel-shuffled 2 x 2 to 4 x 4 = 16
    tokens each, followed by a 32 px global view.

    The processor scales the longest side to 96 px (3 tiles) and the other to a multiple of 32: an 84 x 56 picture
    gives 2 rows x 3 columns of tiles and the global view, 7 x 16 = 112 image tokens.
    """
    tokenizer = build_tokenizer(
        TokenizersBackend,
        "byte_level",
        {"bos_token": "<|begin_of_text|>", "eos_token": "<end_of_utterance>", "pad_token": "<|end_of_text|>"},
        _TOKENS,
        add_bos_token=True,
    )
    image_processor = build_image_processor(
        "Idefics3ImageProcessor", size={"longest_edge": 96}, max_image_size={"longest_edge": 32}
    )
    processor = Idefics3Processor(
        image_processor, tokenizer, image_seq_len=16, chat_template=tokenizer.bos_token + _TURNS
    )
    return _config(Idefics3Config, processor, tile=32, scale_factor=2), processor


def _smolvlm() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """SmolVLM: as Idefics3, with 48 px tiles of 12 x 12 patches pixel-shuffled 4 x 4 to 3 x 3 = 9 tokens each.

    The processor scales the longest side to 144 px (3 tiles): an 84 x 56 picture gives 2 rows x 3 columns of tiles
    and the global view, 7 x 9 = 63 image tokens. ``SmolVLMProcessor`` needs the ``num2words`` package (for the
    prompts of videos) and reads its video processor's settings in ``apply_chat_template``.
    """
    tokenizer = build_tokenizer(
        TokenizersBackend,
        "byte_level",
        {
            "bos_token": "<|im_start|>",
            "eos_token": "<end_of_utterance>",
            "pad_token": "<|im_end|>",
            "unk_token": "<|endoftext|>",
            "fake_image_token": "<fake_token_around_image>",
            "image_token": "<image>",
            "global_image_token": "<global-img>",
            "end_of_utterance_token": "<end_of_utterance>",
        },
        _TOKENS,
    )
    image_processor = build_image_processor(
        "SmolVLMImageProcessor", size={"longest_edge": 144}, max_image_size={"longest_edge": 48}
    )
    processor = processor_with_video(
        SmolVLMProcessor,
        image_processor,
        tokenizer,
        SmolVLMVideoProcessor(),
        image_seq_len=9,
        chat_template=tokenizer.bos_token + _TURNS,
    )
    return _config(SmolVLMConfig, processor, tile=48, scale_factor=4), processor


IDEFICS3 = Recipe(Idefics3ForConditionalGeneration, _idefics3)
SMOLVLM = Recipe(SmolVLMForConditionalGeneration, _smolvlm)
