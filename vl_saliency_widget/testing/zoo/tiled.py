"""InternVL 3 and Aya Vision: pictures cut into at most 6 square tiles in the grid closest to their aspect ratio,
then a thumbnail of the whole picture; each tile's patches pixel-shuffled 2 x 2 into 16 image tokens."""

from __future__ import annotations

from typing import Any

from transformers import (
    AyaVisionConfig,
    AyaVisionForConditionalGeneration,
    AyaVisionProcessor,
    CohereTokenizer,
    InternVLConfig,
    InternVLForConditionalGeneration,
    InternVLProcessor,
    PreTrainedConfig,
    ProcessorMixin,
    Qwen2Tokenizer,
)
from transformers.image_processing_utils import BaseImageProcessor

from ..tokenizer import build_tokenizer
from .common import SIGLIP, VISION, Recipe, build_image_processor, chatml_template, processor_with_video, text_config

_AYA_VISION_TEMPLATE = r"""{{ bos_token }}
{%- for message in messages -%}
{{ '<|START_OF_TURN_TOKEN|>' }}
{%- if message['role'] == 'user' -%}{{ '<|USER_TOKEN|>' }}
{%- elif message['role'] == 'system' -%}{{ '<|SYSTEM_TOKEN|>' }}
{%- else -%}{{ '<|CHATBOT_TOKEN|>' }}
{%- endif -%}
{%- if message['content'] is string -%}{{ message['content'] }}
{%- else -%}
{%- for item in message['content'] -%}
{%- if item['type'] == 'image' -%}{{ '<image>' }}
{%- elif item['type'] == 'text' -%}{{ item['text'] }}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{{ '<|END_OF_TURN_TOKEN|>' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{%- endif -%}"""
"""Aya Vision (Command R7B): ``<BOS_TOKEN><|START_OF_TURN_TOKEN|><|USER_TOKEN|><image>What ...?<|END_OF_TURN_TOKEN|>``
then ``<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>``."""


def _tiling_image_processor(**settings: Any) -> BaseImageProcessor:
    """GOT-OCR 2's image processor, which both use: 32 px tiles, at most 6 of them, and a thumbnail when there are
    several; ``settings`` are further settings (its normalisation)."""
    return build_image_processor(
        "GotOcr2ImageProcessor", size={"height": 32, "width": 32}, crop_to_patches=True, max_patches=6, **settings
    )


def _internvl() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """InternVL 3: an InternViT tower on 32 px tiles of 8 x 8 patches, CLS dropped, pixel-shuffled 2 x 2 to 4 x 4 = 16
    tokens each; a Qwen2 decoder.

    The processor picks the grid of at most 6 tiles whose aspect ratio is closest to the picture's and adds a
    thumbnail of the whole picture when there is more than one tile: an 84 x 56 picture gives 2 rows x 3 columns and
    the thumbnail, 7 x 16 = 112 ``<IMG_CONTEXT>`` between ``<img>`` and ``</img>``.
    """
    tokenizer = build_tokenizer(
        Qwen2Tokenizer,
        "byte_level",
        {
            "pad_token": "<|endoftext|>",
            "eos_token": "<|im_end|>",
            "start_image_token": "<img>",
            "end_image_token": "</img>",
            "context_image_token": "<IMG_CONTEXT>",
            "video_token": "<video>",
        },
        ("<|im_start|>",),
    )
    image_processor = _tiling_image_processor()
    tokens_per_tile = 4 * 4
    processor = processor_with_video(
        InternVLProcessor,
        image_processor,
        tokenizer,
        None,
        image_seq_length=tokens_per_tile,
        chat_template=chatml_template("<IMG_CONTEXT>\\n"),
    )
    config = InternVLConfig(
        text_config=text_config(tokenizer, model_type="qwen2"),
        vision_config={**VISION, "image_size": [32, 32], "patch_size": [4, 4]},
        image_token_id=tokenizer.context_image_token_id,
        image_seq_length=tokens_per_tile,
        downsample_ratio=0.5,
    )
    return config, processor


def _aya_vision() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Aya Vision: a SigLIP tower on 32 px tiles of 8 x 8 patches, pixel-shuffled 2 x 2 to 4 x 4 = 16 tokens each;
    a Cohere2 decoder (sliding-window layer, then global layer).

    Tiles as InternVL (at most 6, the grid closest to the picture's aspect ratio, then a thumbnail): an 84 x 56
    picture gives ``<|START_OF_IMG|>``, 2 rows x 3 columns of ``TILE_k`` + 16 ``<|IMG_PATCH|>`` (k = 1..6), then
    ``TILE_GLOBAL`` + 16 ``<|IMG_PATCH|>`` and ``<|END_OF_IMG|>``: 7 x 16 = 112 image tokens.
    """
    tokenizer = build_tokenizer(
        CohereTokenizer,
        "byte_level",
        {
            "bos_token": "<BOS_TOKEN>",
            "eos_token": "<|END_OF_TURN_TOKEN|>",
            "unk_token": "<UNK>",
            "pad_token": "<PAD>",
            "cls_token": "<CLS>",
            "sep_token": "<SEP>",
            "mask_token": "<MASK_TOKEN>",
        },
        (
            "<|START_OF_TURN_TOKEN|>",
            "<|USER_TOKEN|>",
            "<|CHATBOT_TOKEN|>",
            "<|SYSTEM_TOKEN|>",
            "<|START_OF_IMG|>",
            "<|END_OF_IMG|>",
            "<|IMG_PATCH|>",
            "<|IMG_LINE_BREAK|>",
            "TILE",
            "TILE_GLOBAL",
        ),
    )
    image_processor = _tiling_image_processor(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    processor = AyaVisionProcessor(
        image_processor,
        tokenizer,
        patch_size=4,
        img_size=32,
        downsample_factor=2,
        chat_template=_AYA_VISION_TEMPLATE,
    )
    config = AyaVisionConfig(
        text_config=text_config(
            tokenizer,
            model_type="cohere2",
            head_dim=None,
            sliding_window=512,
            layer_types=["sliding_attention", "full_attention"],
        ),
        vision_config={**SIGLIP, "image_size": 32, "patch_size": 4},
        downsample_factor=2,
        image_token_index=processor.image_token_id,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    return config, processor


INTERNVL = Recipe(InternVLForConditionalGeneration, _internvl)
AYA_VISION = Recipe(AyaVisionForConditionalGeneration, _aya_vision)
