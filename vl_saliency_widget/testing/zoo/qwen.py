"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL: pictures at their own size, patches merged 2 x 2 into one image token each, a
Qwen decoder whose rotary frequencies are split between time, height and width (M-RoPE)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from transformers import (
    PreTrainedConfig,
    PreTrainedTokenizerBase,
    ProcessorMixin,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2Tokenizer,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLProcessor,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLProcessor,
)

from ..tokenizer import build_tokenizer
from .common import (
    TEXT,
    VISION,
    Recipe,
    build_image_processor,
    chatml_template,
    processor_with_video,
    text_config,
    token_id,
)

_QWEN_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
"""The image placeholder of the Qwen-VL chat templates, which the processor expands."""

_MERGE = 2
"""Patches merged per side into one image token."""


def _qwen_tokenizer() -> PreTrainedTokenizerBase:
    """The Qwen2 tokenizer of Qwen2-VL, Qwen2.5-VL and Qwen3-VL, with the vision delimiters and placeholders."""
    return build_tokenizer(
        Qwen2Tokenizer,
        "byte_level",
        {"pad_token": "<|endoftext|>", "eos_token": "<|im_end|>"},
        ("<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"),
    )


def _qwen_vision_token_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """The ids of the vision placeholders and delimiters, as the Qwen-VL configs name them."""
    return {
        "image_token_id": token_id(tokenizer, "<|image_pad|>"),
        "video_token_id": token_id(tokenizer, "<|video_pad|>"),
        "vision_start_token_id": token_id(tokenizer, "<|vision_start|>"),
        "vision_end_token_id": token_id(tokenizer, "<|vision_end|>"),
    }


def _qwen_parts(
    config_class: Callable[..., PreTrainedConfig],
    processor_class: type[ProcessorMixin],
    *,
    patch_size: int,
    text: Mapping[str, Any],
    vision: Mapping[str, Any],
    default_system: str | None = None,
    **image_settings: Any,
) -> tuple[PreTrainedConfig, ProcessorMixin]:
    """A Qwen-VL model: the Qwen2 tokenizer, a ChatML template, ``patch_size`` px patches merged 2 x 2, 2 frames per
    temporal patch, a 2-layer tower and a decoder whose ``bos_token_id`` is the pad token's (as on the hub).

    Pictures are resized to multiples of ``2 * patch_size`` px, to at least 2 x 2 image tokens and at most 112 x 112
    pixels.

    Args:
        config_class, processor_class: the architecture's config and processor classes.
        text: the decoder's own config entries (its rotary frequencies).
        vision: the tower's own config entries (its widths, windows...).
        default_system: the system turn of a conversation that starts without one.
        **image_settings: further settings of the image processor (its normalisation).
    """
    tokenizer = _qwen_tokenizer()
    token_side = patch_size * _MERGE
    image_processor = build_image_processor(
        "Qwen2VLImageProcessor",
        patch_size=patch_size,
        merge_size=_MERGE,
        temporal_patch_size=2,
        size={"shortest_edge": 4 * token_side * token_side, "longest_edge": 112 * 112},
        **image_settings,
    )
    processor = processor_with_video(
        processor_class, image_processor, tokenizer, None, chat_template=chatml_template(_QWEN_IMAGE, default_system)
    )
    config = config_class(
        text_config=text_config(tokenizer, bos_token_id=tokenizer.pad_token_id, **text),
        vision_config={
            **vision,
            "depth": 2,
            "num_heads": VISION["num_attention_heads"],
            "patch_size": patch_size,
            "spatial_merge_size": _MERGE,
            "temporal_patch_size": 2,
        },
        **_qwen_vision_token_ids(tokenizer),
    )
    return config, processor


_QWEN2_TEXT = {
    "head_dim": None,
    # Qwen's split of the rotary frequencies between time, height and width ([16, 24, 24] of 64), scaled to the 8
    # frequencies of a 16-channel head.
    "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [2, 3, 3]},
}
"""The decoder of Qwen2-VL and Qwen2.5-VL, whose config derives the head width."""


def _qwen2_vl() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Qwen2-VL: a 2-layer tower of width 32 whose merger projects 2 x 2 patches to the decoder's width.

    Patches are 7 px and merged 2 x 2, so images are resized to multiples of 14 px within 784 to 12544 pixels:
    an 84 x 56 picture keeps its size and gives a 4 x 6 grid of merged image tokens (``image_grid_thw`` 1, 8, 12).
    """
    vision = {"embed_dim": VISION["hidden_size"], "mlp_ratio": 2, "hidden_size": TEXT["hidden_size"]}
    return _qwen_parts(
        Qwen2VLConfig,
        Qwen2VLProcessor,
        patch_size=7,
        text=_QWEN2_TEXT,
        vision=vision,
        default_system="You are a helpful assistant.",
    )


def _qwen2_5_vl() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Qwen2.5-VL: as Qwen2-VL, with windowed attention in layer 0 (28 px windows, 2 x 2 merged tokens) and full
    attention in layer 1."""
    vision = {
        "hidden_size": VISION["hidden_size"],
        "intermediate_size": VISION["intermediate_size"],
        "out_hidden_size": TEXT["hidden_size"],
        "window_size": 28,
        "fullatt_block_indexes": [1],
    }
    return _qwen_parts(
        Qwen2_5_VLConfig,
        Qwen2_5_VLProcessor,
        patch_size=7,
        text=_QWEN2_TEXT,
        vision=vision,
        default_system="You are a helpful assistant.",
    )


def _qwen3_vl() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Qwen3-VL: 8 px patches merged 2 x 2, so one image token per 16 x 16 px; the features of vision layer 0 also
    enter the decoder after its layer 0 ("DeepStack"); rotary frequencies interleaved between time, height and width.

    Images are resized to multiples of 16 px within 1024 to 12544 pixels: an 84 x 56 picture becomes 80 x 64 and
    gives a 4 x 5 grid of image tokens (``image_grid_thw`` 1, 8, 10).
    """
    text = {
        # Qwen3-VL's interleaved split of the rotary frequencies ([24, 20, 20] of 64: height and width take every
        # third frequency from the second and third on), scaled to the 8 frequencies of a 16-channel head.
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 5_000_000.0,
            "mrope_section": [4, 2, 2],
            "mrope_interleaved": True,
        },
    }
    vision = {
        "hidden_size": VISION["hidden_size"],
        "intermediate_size": VISION["intermediate_size"],
        "out_hidden_size": TEXT["hidden_size"],
        "num_position_embeddings": 16 * 16,
        "deepstack_visual_indexes": [0],
    }
    return _qwen_parts(
        Qwen3VLConfig,
        Qwen3VLProcessor,
        patch_size=8,
        text=text,
        vision=vision,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )


QWEN2_VL = Recipe(Qwen2VLForConditionalGeneration, _qwen2_vl)
QWEN2_5_VL = Recipe(Qwen2_5_VLForConditionalGeneration, _qwen2_5_vl)
QWEN3_VL = Recipe(Qwen3VLForConditionalGeneration, _qwen3_vl)
