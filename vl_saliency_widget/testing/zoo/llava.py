"""LLaVA 1.5: a CLIP tower whose patch features (CLS dropped) are the image tokens, a Llama (Vicuna) decoder.

:func:`llava_parts` is also LLaVA-NeXT's recipe, with its own image processor and tile size (see :mod:`.llava_next`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transformers import (
    LlamaTokenizer,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedConfig,
    ProcessorMixin,
)
from transformers.image_processing_utils import BaseImageProcessor

from ...demo.parts import LLAVA_CHAT_TEMPLATE
from ..tokenizer import build_tokenizer
from .common import VISION, Recipe, build_image_processor, text_config

PATCH = 4
"""Pixels per side of a CLIP patch, one image token each."""


def llava_parts(
    config_class: Callable[..., PreTrainedConfig],
    processor_class: type[ProcessorMixin],
    image_processor: BaseImageProcessor,
    tile: int,
    **settings: Any,
) -> tuple[PreTrainedConfig, ProcessorMixin]:
    """A LLaVA-style model: Vicuna's Llama tokenizer with ``<image>`` and ``<pad>``, LLaVA 1.5's chat template, a
    CLIP tower on ``tile`` px squares of 4 px patches whose CLS feature is dropped (the features of its last but one
    layer), and a Llama decoder.

    Args:
        config_class, processor_class: the architecture's config and processor classes.
        image_processor: the architecture's image processor, which cuts pictures into ``tile`` px squares.
        tile: the side in pixels of the tower's input.
        **settings: further entries of the config (``image_grid_pinpoints``).
    """
    tokenizer = build_tokenizer(
        LlamaTokenizer,
        "sentencepiece",
        {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "image_token": "<image>"},
        add_bos_token=True,
    )
    processor = processor_class(
        image_processor,
        tokenizer,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )
    config = config_class(
        text_config=text_config(tokenizer, model_type="llama"),
        vision_config={"model_type": "clip_vision_model", **VISION, "image_size": tile, "patch_size": PATCH},
        image_token_index=tokenizer.image_token_id,
        image_seq_length=(tile // PATCH) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        **settings,
    )
    return config, processor


def _llava() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """LLaVA 1.5: a 32 px CLIP tower with 4 px patches, CLS dropped, 8 x 8 = 64 image tokens, a Llama decoder."""
    image_processor = build_image_processor(
        "CLIPImageProcessor", size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    return llava_parts(LlavaConfig, LlavaProcessor, image_processor, tile=32)


LLAVA = Recipe(LlavaForConditionalGeneration, _llava)
