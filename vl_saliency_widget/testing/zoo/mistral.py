"""Mistral 3 (Mistral Small 3.1): pictures at their own aspect ratio, a Pixtral tower whose patches the projector
merges 2 x 2 into image tokens, one row of tokens after another; a Mistral decoder."""

from __future__ import annotations

import importlib
import sys
import types
from typing import cast

import transformers
from transformers import (
    Mistral3Config,
    Mistral3ForConditionalGeneration,
    PreTrainedConfig,
    ProcessorMixin,
    TokenizersBackend,
)
from transformers.models.pixtral import image_processing_pil_pixtral
from transformers.utils import is_torchvision_available

from ..tokenizer import build_tokenizer
from .common import VISION, Recipe, build_image_processor, text_config, token_id

_MISTRAL3_TEMPLATE = r"""{{ bos_token }}
{%- for message in messages -%}
{%- if message['role'] == 'system' -%}{{ '[SYSTEM_PROMPT]' + message['content'] + '[/SYSTEM_PROMPT]' }}
{%- elif message['role'] == 'user' -%}{{ '[INST]' }}
{%- if message['content'] is string -%}{{ message['content'] }}
{%- else -%}
{%- for item in message['content'] -%}
{%- if item['type'] == 'image' -%}{{ '[IMG]' }}
{%- elif item['type'] == 'text' -%}{{ item['text'] }}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{{ '[/INST]' }}
{%- else -%}{{ message['content'] + eos_token }}
{%- endif -%}
{%- endfor -%}"""
"""Mistral Small 3.1: ``<s>[INST][IMG]What ...?[/INST]``, the content in its order, no default system prompt."""


def _pixtral_processor_class() -> type[ProcessorMixin]:
    """``PixtralProcessor`` (the processor of Mistral 3), which transformers cannot import without torchvision.

    Its module imports ``get_resize_output_image_size`` from the torchvision image processor's module, which fails
    without torchvision; the PIL image processor's module has the same function. This imports the processor's module
    with the PIL one standing in for the torchvision one, which is gone again afterwards.
    """
    if is_torchvision_available():
        return cast(type[ProcessorMixin], transformers.PixtralProcessor)
    torchvision_module = "transformers.models.pixtral.image_processing_pixtral"
    stand_in = types.ModuleType(torchvision_module)
    stand_in.get_resize_output_image_size = image_processing_pil_pixtral.get_resize_output_image_size  # type: ignore[attr-defined]
    sys.modules[torchvision_module] = stand_in
    try:
        module = importlib.import_module("transformers.models.pixtral.processing_pixtral")
    finally:
        del sys.modules[torchvision_module]
    return cast(type[ProcessorMixin], module.PixtralProcessor)


def _mistral3() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Mistral 3 (Mistral Small 3.1): a Pixtral tower with 4 px patches, merged 2 x 2 by the projector, so one image
    token per 8 x 8 px; a Mistral decoder.

    Pictures keep their aspect ratio: scaled down to fit 64 x 64 px and rounded up to multiples of 8 px, so an
    84 x 56 picture becomes 64 x 48 (``image_sizes``), 6 rows of 8 ``[IMG]``, each row closed by ``[IMG_BREAK]`` but
    the last, closed by ``[IMG_END]``.
    """
    tokenizer = build_tokenizer(
        TokenizersBackend,
        "byte_level",
        {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "[PAD]"},
        ("[INST]", "[/INST]", "[IMG]", "[IMG_BREAK]", "[IMG_END]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"),
        add_bos_token=True,
    )
    image_processor = build_image_processor(
        "PixtralImageProcessor", size={"longest_edge": 64}, patch_size={"height": 4, "width": 4}
    )
    processor = _pixtral_processor_class()(
        image_processor, tokenizer, patch_size=4, spatial_merge_size=2, chat_template=_MISTRAL3_TEMPLATE
    )
    config = Mistral3Config(
        text_config=text_config(tokenizer, model_type="mistral", sliding_window=None),
        vision_config={"model_type": "pixtral", **VISION, "image_size": 64, "patch_size": 4},
        image_token_index=token_id(tokenizer, "[IMG]"),
        spatial_merge_size=2,
    )
    return config, processor


MISTRAL3 = Recipe(Mistral3ForConditionalGeneration, _mistral3)
