"""DeepSeek-VL and DeepSeek-VL Hybrid: the picture scaled to fit a square and padded to it, one SigLIP patch grid of
image tokens (the Hybrid adds a SAM tower on a larger square, its features brought to the same grid); a Llama
decoder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transformers import (
    DeepseekVLConfig,
    DeepseekVLForConditionalGeneration,
    DeepseekVLHybridConfig,
    DeepseekVLHybridForConditionalGeneration,
    DeepseekVLHybridProcessor,
    DeepseekVLProcessor,
    PreTrainedConfig,
    ProcessorMixin,
    TokenizersBackend,
)
from transformers.image_processing_utils import BaseImageProcessor

from ..tokenizer import build_tokenizer
from .common import SIGLIP, VISION, Recipe, build_image_processor, text_config

_DEEPSEEK_VL_TEMPLATE = r"""
{%- if messages[0]['role'] != 'system' -%}
{{ 'You are a helpful language and vision assistant.\n\n' }}
{%- endif -%}
{%- for message in messages -%}
{%- if message['role'] == 'system' -%}{{ message['content'] + '\n\n' }}
{%- else -%}
{{ 'User: ' if message['role'] == 'user' else 'Assistant: ' }}
{%- if message['content'] is string -%}{{ message['content'] }}
{%- else -%}
{%- for item in message['content'] -%}
{%- if item['type'] == 'image' -%}{{ '<image_placeholder>' }}
{%- elif item['type'] == 'text' -%}{{ item['text'] }}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{{ '\n\n' if message['role'] == 'user' else eos_token }}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ 'Assistant:' }}{%- endif -%}"""
"""DeepSeek-VL chat: ``<｜begin▁of▁sentence｜>`` (from the tokenizer), a default system line, then
``User: <image_placeholder>What ...?\n\nAssistant:``."""

TILE = 32
"""Side in pixels of the square the SigLIP tower sees."""

PATCH = 4
"""Pixels per side of a SigLIP patch, one image token each."""


def _deepseek_parts(
    config_class: Callable[..., PreTrainedConfig],
    processor_class: type[ProcessorMixin],
    image_processor: BaseImageProcessor,
    **settings: Any,
) -> tuple[PreTrainedConfig, ProcessorMixin]:
    """A DeepSeek-VL model: DeepSeek's byte-level tokenizer with ``<image_placeholder>``, the chat template above,
    a 32 px SigLIP tower of 4 px patches (8 x 8 = 64 image tokens) and a Llama decoder.

    Args:
        config_class, processor_class: the architecture's config and processor classes.
        image_processor: the architecture's image processor, which scales and pads pictures to 32 px squares.
        **settings: further entries of the config (the Hybrid's SAM tower).
    """
    tokenizer = build_tokenizer(
        TokenizersBackend,
        "byte_level",
        {
            "bos_token": "<｜begin▁of▁sentence｜>",
            "eos_token": "<｜end▁of▁sentence｜>",
            "pad_token": "<｜▁pad▁｜>",
            "image_token": "<image_placeholder>",
        },
        add_bos_token=True,
    )
    tokens = (TILE // PATCH) ** 2
    processor = processor_class(
        image_processor, tokenizer, num_image_tokens=tokens, chat_template=_DEEPSEEK_VL_TEMPLATE
    )
    config = config_class(
        text_config=text_config(tokenizer, model_type="llama"),
        vision_config={**SIGLIP, "image_size": TILE, "patch_size": PATCH},
        image_token_id=tokenizer.image_token_id,
        **settings,
    )
    return config, processor


def _deepseek_vl() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """DeepSeek-VL: the picture scaled so that its longer side is 32 px (the shorter at least 4 px), padded to a
    32 px square with the mean colour, centred; 8 x 8 = 64 image tokens."""
    image_processor = build_image_processor(
        "DeepseekVLImageProcessor", size={"height": TILE, "width": TILE}, min_size=PATCH
    )
    return _deepseek_parts(DeepseekVLConfig, DeepseekVLProcessor, image_processor)


def _deepseek_vl_hybrid() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """DeepSeek-VL Hybrid: as DeepSeek-VL, plus a SAM tower on the picture scaled and padded to a 64 px square (8 px
    patches, windowed layer 0 then global layer 1), its features brought to the same 8 x 8 grid (resized to 32 x 32,
    then two stride-2 convolutions) and joined to the SigLIP features of the same cell; the 32 px square is a resize of
    the 64 px one. 64 image tokens."""
    image_processor = build_image_processor(
        "DeepseekVLHybridImageProcessor",
        size={"height": TILE, "width": TILE},
        high_res_size={"height": 2 * TILE, "width": 2 * TILE},
        min_size=PATCH,
    )
    sam = {
        "model_type": "sam_vision_model",
        **VISION,
        "output_channels": 16,
        "image_size": 2 * TILE,
        "patch_size": 8,
        "window_size": 4,
        "global_attn_indexes": [1],
        "mlp_dim": VISION["intermediate_size"],
        # SAM's own default (1e-10) would leave the tower's weights all but zero.
        "initializer_range": 0.02,
    }
    return _deepseek_parts(
        DeepseekVLHybridConfig, DeepseekVLHybridProcessor, image_processor, high_res_vision_config=sam
    )


DEEPSEEK_VL = Recipe(DeepseekVLForConditionalGeneration, _deepseek_vl)
DEEPSEEK_VL_HYBRID = Recipe(DeepseekVLHybridForConditionalGeneration, _deepseek_vl_hybrid)
