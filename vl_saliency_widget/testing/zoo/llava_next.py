"""LLaVA-NeXT and LLaVA-OneVision: "anyres" tiling, a base view of the whole picture then its tiles stitched together,
their padding removed, with a newline feature after every row."""

from __future__ import annotations

from transformers import (
    LlavaNextConfig,
    LlavaNextForConditionalGeneration,
    LlavaNextProcessor,
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionProcessor,
    PreTrainedConfig,
    ProcessorMixin,
    Qwen2Tokenizer,
)

from ..tokenizer import build_tokenizer
from .common import SIGLIP, Recipe, build_image_processor, processor_with_video, text_config
from .llava import llava_parts

_LLAVA_ONEVISION_TEMPLATE = r"""
{%- for message in messages -%}
{{ '<|im_start|>' + message['role'] + ' ' }}
{%- if message['content'] is string -%}{{ message['content'] }}
{%- else -%}
{%- for item in message['content'] if item['type'] == 'image' -%}{{ '<image>' }}{%- endfor -%}
{%- for item in message['content'] if item['type'] == 'text' -%}{{ '\n' + item['text'] }}{%- endfor -%}
{%- endif -%}
{{ '<|im_end|>' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"""
"""LLaVA-OneVision: ``<|im_start|>user <image>\nWhat ...?<|im_end|><|im_start|>assistant\n``, the images of a turn
first."""


def _llava_next() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """LLaVA-NeXT (Vicuna): a 16 px CLIP tower with 4 px patches, "anyres" tiling on a grid of 16 px tiles.

    One image gives the base view (4 x 4 tokens, CLS dropped) then the tiles of the best of 16 x 32, 32 x 16 and
    32 x 32 px stitched together, their padding removed, with a newline feature after every row. An 84 x 56 picture
    takes 2 x 2 tiles (8 x 8 patches), unpadded to 6 rows x 8 columns: 16 + 6 * (8 + 1) = 70 image tokens.
    """
    pinpoints = [[16, 32], [32, 16], [32, 32]]
    image_processor = build_image_processor(
        "LlavaNextImageProcessor",
        size={"shortest_edge": 16},
        crop_size={"height": 16, "width": 16},
        image_grid_pinpoints=pinpoints,
    )
    return llava_parts(LlavaNextConfig, LlavaNextProcessor, image_processor, tile=16, image_grid_pinpoints=pinpoints)


def _llava_onevision() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """LLaVA-OneVision: a 16 px SigLIP tower with 4 px patches (4 x 4 tokens, no CLS), "anyres" tiling as LLaVA-NeXT
    on 1 x 1 to 2 x 4 tiles of 16 px; a Qwen2 decoder.

    One image alone gives the base view, then its tiles stitched together, their padding removed, with a newline
    feature after every row. An 84 x 56 picture takes 2 x 4 tiles (8 x 16 patches), unpadded to 8 rows x 12 columns:
    16 + 8 * (12 + 1) = 120 image tokens. With several images in one prompt, each image is its base view and one
    newline feature, 16 + 1 = 17 tokens.
    """
    tokenizer = build_tokenizer(
        Qwen2Tokenizer,
        "byte_level",
        {"pad_token": "<|endoftext|>", "eos_token": "<|im_end|>", "image_token": "<image>", "video_token": "<video>"},
        ("<|im_start|>",),
    )
    pinpoints = [[16, 16], [16, 32], [32, 16], [32, 32], [16, 48], [48, 16], [32, 64], [64, 32]]
    image_processor = build_image_processor(
        "LlavaOnevisionImageProcessor", size={"height": 16, "width": 16}, image_grid_pinpoints=pinpoints
    )
    processor = processor_with_video(
        LlavaOnevisionProcessor,
        image_processor,
        tokenizer,
        None,
        num_image_tokens=16,
        vision_feature_select_strategy="full",
        chat_template=_LLAVA_ONEVISION_TEMPLATE,
    )
    config = LlavaOnevisionConfig(
        text_config=text_config(tokenizer, model_type="qwen2"),
        vision_config={**SIGLIP, "image_size": 16, "patch_size": 4},
        image_token_index=tokenizer.image_token_id,
        video_token_index=tokenizer.video_token_id,
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    return config, processor


LLAVA_NEXT = Recipe(LlavaNextForConditionalGeneration, _llava_next)
LLAVA_ONEVISION = Recipe(LlavaOnevisionForConditionalGeneration, _llava_onevision)
