"""GLM-4.1V, GLM-4.5V (``glm4v_moe``) and GLM-4.6V (``glm46v``): Qwen2-VL-style dynamic resolution (pictures at
their own size cut into patches, 2 x 2 patches merged into one image token by a strided convolution), a GLM-4
decoder with M-RoPE on half of each head.

GLM-4.5V's decoder has a dense first layer and mixture-of-experts layers after it (``first_k_dense_replace``);
``Glm46VForConditionalGeneration`` is GLM-4.1V's model with its sub-models built from their own configs (a GLM-4.1V
decoder by default).
"""

from __future__ import annotations

from typing import Any

from transformers import (
    Glm4vConfig,
    Glm4vForConditionalGeneration,
    Glm4vMoeConfig,
    Glm4vMoeForConditionalGeneration,
    Glm4vProcessor,
    Glm46VConfig,
    Glm46VForConditionalGeneration,
    Glm46VProcessor,
    PreTrainedConfig,
    ProcessorMixin,
    TokenizersBackend,
)

from ..tokenizer import build_tokenizer
from .common import TEXT, VISION, Recipe, build_image_processor, processor_with_video, text_config, token_id

_PATCH = 7
"""Vision patch side in pixels: with the 2 x 2 merge one image token per 14 x 14 px (28 px on the hub)."""

_MERGE = 2

_GLM_TEMPLATE = r"""[gMASK]<sop>
{%- for message in messages -%}
{{ '<|' + message['role'] + '|>' }}{{ '\n' if message['role'] != 'assistant' else '' }}
{%- if message['content'] is string -%}{{ message['content'] }}
{%- else -%}
{%- for item in message['content'] -%}
{%- if item['type'] == 'image' -%}{{ '<|begin_of_image|><|image|><|end_of_image|>' }}
{%- elif item['type'] == 'text' -%}{{ item['text'] }}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|assistant|>\n' }}{%- endif -%}"""
"""GLM-4.1V: ``[gMASK]<sop><|user|>\\n<|begin_of_image|><|image|><|end_of_image|>What ...?<|assistant|>\\n``."""

_CONTROL = (
    "[gMASK]",
    "<sop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|image|>",
    "<|video|>",
)
"""GLM-4's chat and vision special tokens."""

_TEXT = {
    "head_dim": None,
    # GLM-4.1V rotates half of each head, its 32 frequencies split [8, 12, 12] between time, height and width; half
    # of a 16-channel head is 4 frequencies, split [2, 1, 1] here.
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 10_000.0,
        "partial_rotary_factor": 0.5,
        "mrope_section": [2, 1, 1],
    },
}
"""The GLM-4 decoder, whose config derives the head width (16) from the width."""


def _glm_parts(
    config_class: Any, processor_class: type[ProcessorMixin], image_processor_class: str, **text: Any
) -> tuple[PreTrainedConfig, ProcessorMixin]:
    """A GLM-4V model: a byte-level GLM-4 tokenizer, 7 px patches merged 2 x 2, 2 frames per temporal patch, a 2-layer
    tower of width 32 (its learned position grid 8 x 8, resampled to each picture), and the GLM-4 decoder with
    ``text`` added to its config.

    Pictures are resized to multiples of 14 px, to at least 2 x 2 and at most 8 x 8 image tokens' worth of pixels
    (GLM's resize counts both frames of a temporal patch against its limits): an 84 x 56 picture keeps its size and
    gives a 4 x 6 grid of image tokens (``image_grid_thw`` 1, 8, 12).
    """
    tokenizer = build_tokenizer(
        TokenizersBackend, "byte_level", {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}, _CONTROL
    )
    token_side = _PATCH * _MERGE
    image_processor = build_image_processor(
        image_processor_class,
        patch_size=_PATCH,
        merge_size=_MERGE,
        temporal_patch_size=2,
        size={"shortest_edge": 2 * 4 * token_side * token_side, "longest_edge": 2 * 112 * 112},
    )
    processor = processor_with_video(processor_class, image_processor, tokenizer, None, chat_template=_GLM_TEMPLATE)
    stop = [tokenizer.eos_token_id, token_id(tokenizer, "<|user|>"), token_id(tokenizer, "<|observation|>")]
    config = config_class(
        text_config=text_config(tokenizer, **_TEXT, eos_token_id=stop, **text),
        vision_config={
            "depth": 2,
            "hidden_size": VISION["hidden_size"],
            "num_heads": VISION["num_attention_heads"],
            "image_size": 8 * _PATCH,
            "patch_size": _PATCH,
            "spatial_merge_size": _MERGE,
            "temporal_patch_size": 2,
            "out_hidden_size": TEXT["hidden_size"],
            "intermediate_size": TEXT["intermediate_size"],
        },
        image_token_id=token_id(tokenizer, "<|image|>"),
        video_token_id=token_id(tokenizer, "<|video|>"),
        image_start_token_id=token_id(tokenizer, "<|begin_of_image|>"),
        image_end_token_id=token_id(tokenizer, "<|end_of_image|>"),
        video_start_token_id=token_id(tokenizer, "<|begin_of_video|>"),
        video_end_token_id=token_id(tokenizer, "<|end_of_video|>"),
    )
    return config, processor


def _glm4v() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """GLM-4.1V: the dense GLM-4 decoder."""
    return _glm_parts(Glm4vConfig, Glm4vProcessor, "Glm4vImageProcessor")


def _glm4v_moe() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """GLM-4.5V: layer 0 dense, layer 1 4 routed experts (2 per token, sigmoid router) and a shared expert."""
    moe = {
        "n_routed_experts": 4,
        "num_experts_per_tok": 2,
        "n_shared_experts": 1,
        "moe_intermediate_size": 32,
        "first_k_dense_replace": 1,
        "n_group": 1,
        "topk_group": 1,
    }
    return _glm_parts(Glm4vMoeConfig, Glm4vProcessor, "Glm4vImageProcessor", **moe)


def _glm46v() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """GLM-4.6V: GLM-4.1V's model and decoder config under the ``glm46v`` model type, its own processor classes."""
    return _glm_parts(Glm46VConfig, Glm46VProcessor, "Glm46VImageProcessor", model_type="glm4v_text")


GLM4V = Recipe(Glm4vForConditionalGeneration, _glm4v)
GLM4V_MOE = Recipe(Glm4vMoeForConditionalGeneration, _glm4v_moe)
GLM46V = Recipe(Glm46VForConditionalGeneration, _glm46v)
