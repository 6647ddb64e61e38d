"""Qwen3.5, Qwen3.5-MoE and Qwen3-VL-MoE: the Qwen3-VL vision path (pictures at their own size, 8 px patches merged
2 x 2 into one image token each, ``Qwen3VLProcessor``) in front of other decoders.

Qwen3.5 and Qwen3.5-MoE alternate Gated DeltaNet linear-attention layers with full-attention layers (3 to 1 on the
hub, 1 to 1 here: layer 0 linear, layer 1 full), take no DeepStack features and have a tokenizer class of their own.
Qwen3-VL-MoE is Qwen3-VL with a mixture-of-experts decoder.
"""

from __future__ import annotations

from typing import Any

from transformers import (
    PreTrainedConfig,
    PreTrainedTokenizerBase,
    ProcessorMixin,
    Qwen3_5Config,
    Qwen3_5ForConditionalGeneration,
    Qwen3_5MoeConfig,
    Qwen3_5MoeForConditionalGeneration,
    Qwen3_5Tokenizer,
    Qwen3VLMoeConfig,
    Qwen3VLMoeForConditionalGeneration,
    Qwen3VLProcessor,
)

from ..tokenizer import build_tokenizer
from .common import TEXT, VISION, Recipe, build_image_processor, chatml_template, processor_with_video, text_config
from .qwen import _MERGE, _QWEN_IMAGE, _qwen_parts, _qwen_vision_token_ids

_PATCH = 8
"""Vision patch side in pixels: with the 2 x 2 merge one image token per 16 x 16 px, as the zoo's Qwen3-VL."""

_VISION = {
    "hidden_size": VISION["hidden_size"],
    "intermediate_size": VISION["intermediate_size"],
    "out_hidden_size": TEXT["hidden_size"],
    "num_position_embeddings": 16 * 16,
    "depth": 2,
    "num_heads": VISION["num_attention_heads"],
    "patch_size": _PATCH,
    "spatial_merge_size": _MERGE,
    "temporal_patch_size": 2,
}
"""The tower of Qwen3.5 (no DeepStack layers)."""

_MOE = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32}
"""4 tiny experts, 2 per token."""

_QWEN3_5_TEXT = {
    "layer_types": ["linear_attention", "full_attention"],
    "linear_conv_kernel_dim": 4,
    "linear_key_head_dim": 16,
    "linear_value_head_dim": 16,
    "linear_num_key_heads": 2,
    "linear_num_value_heads": 4,
    # Qwen3.5 rotates a quarter of each 256-channel head, its 32 frequencies interleaved [11, 11, 10] between time,
    # height and width. A quarter of a 16-channel head would be 2 frequencies, leaving none to the width: half of it
    # rotates here, 4 frequencies split [2, 1, 1] (time, height, width, time).
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 10_000_000.0,
        "partial_rotary_factor": 0.5,
        "mrope_section": [2, 1, 1],
        "mrope_interleaved": True,
    },
}
"""The hybrid decoder of Qwen3.5: a Gated DeltaNet layer (no attention matrix), then a gated full-attention layer."""

_NO_THINKING = "{{ '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' }}"
"""The generation prompt of Qwen3.5's chat template with ``enable_thinking=False``: an empty reasoning block."""


def _qwen3_5_tokenizer() -> PreTrainedTokenizerBase:
    """Qwen3.5's own tokenizer class, with the vision delimiters and placeholders and the reasoning tags."""
    return build_tokenizer(
        Qwen3_5Tokenizer,
        "byte_level",
        {"pad_token": "<|endoftext|>", "eos_token": "<|im_end|>"},
        ("<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<think>", "</think>"),
    )


def _qwen3_5_parts(config_class: Any, **text: Any) -> tuple[PreTrainedConfig, ProcessorMixin]:
    """A Qwen3.5 model: ``Qwen3VLProcessor`` (what ``AutoProcessor`` loads for it) with Qwen2-VL's image processor,
    8 px patches merged 2 x 2, pictures resized to multiples of 16 px within 1024 to 12544 pixels (an 84 x 56 picture
    becomes 80 x 64: a 4 x 5 grid of image tokens), a ChatML template whose generation prompt holds an empty
    ``<think>`` block, and the hybrid decoder with ``text`` added to its config."""
    tokenizer = _qwen3_5_tokenizer()
    token_side = _PATCH * _MERGE
    image_processor = build_image_processor(
        "Qwen2VLImageProcessor",
        patch_size=_PATCH,
        merge_size=_MERGE,
        temporal_patch_size=2,
        size={"shortest_edge": 4 * token_side * token_side, "longest_edge": 112 * 112},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    plain = chatml_template(_QWEN_IMAGE)
    template = plain.replace("{{ '<|im_start|>assistant\\n' }}", _NO_THINKING)
    if template == plain:
        raise AssertionError("The ChatML template's generation prompt was not found.")
    processor = processor_with_video(Qwen3VLProcessor, image_processor, tokenizer, None, chat_template=template)
    config = config_class(
        text_config=text_config(tokenizer, bos_token_id=tokenizer.pad_token_id, **_QWEN3_5_TEXT, **text),
        vision_config=_VISION,
        **_qwen_vision_token_ids(tokenizer),
    )
    return config, processor


def _qwen3_5() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Qwen3.5: the hybrid decoder with a dense MLP."""
    return _qwen3_5_parts(Qwen3_5Config)


def _qwen3_5_moe() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Qwen3.5-MoE: the hybrid decoder whose MLPs are 4 experts (2 per token) and a gated shared expert."""
    return _qwen3_5_parts(Qwen3_5MoeConfig, **_MOE, shared_expert_intermediate_size=32)


def _qwen3_vl_moe() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Qwen3-VL-MoE: the zoo's Qwen3-VL (DeepStack features of vision layer 0, interleaved M-RoPE, 4 x 5 image tokens
    for an 84 x 56 picture) with MLPs of 4 experts, 2 per token."""
    text = {
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 5_000_000.0,
            "mrope_section": [4, 2, 2],
            "mrope_interleaved": True,
        },
        **_MOE,
    }
    vision: dict[str, Any] = {key: _VISION[key] for key in ("hidden_size", "intermediate_size", "out_hidden_size")}
    vision |= {"num_position_embeddings": 16 * 16, "deepstack_visual_indexes": [0]}
    return _qwen_parts(
        Qwen3VLMoeConfig,
        Qwen3VLProcessor,
        patch_size=_PATCH,
        text=text,
        vision=vision,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )


QWEN3_5 = Recipe(Qwen3_5ForConditionalGeneration, _qwen3_5)
QWEN3_5_MOE = Recipe(Qwen3_5MoeForConditionalGeneration, _qwen3_5_moe)
QWEN3_VL_MOE = Recipe(Qwen3VLMoeForConditionalGeneration, _qwen3_vl_moe)
