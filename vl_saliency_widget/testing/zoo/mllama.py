"""Llama 3.2 Vision (Mllama): one ``<|image|>`` token in the text; the picture, cut into up to 4 tiles, reaches the
decoder only through a cross-attention layer over the vision tower's features."""

from __future__ import annotations

from transformers import (
    MllamaConfig,
    MllamaForConditionalGeneration,
    MllamaProcessor,
    PreTrainedConfig,
    ProcessorMixin,
    TokenizersBackend,
)

from ..tokenizer import build_tokenizer
from .common import VISION, Recipe, build_image_processor, text_config

_MLLAMA_TEMPLATE = r"""{{ bos_token }}
{%- for message in messages -%}
{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}
{%- if message['content'] is string -%}{{ message['content'] }}
{%- else -%}
{%- for item in message['content'] -%}
{%- if item['type'] == 'image' -%}{{ '<|image|>' }}
{%- elif item['type'] == 'text' -%}{{ item['text'] }}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{{ '<|eot_id|>' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif -%}"""
"""Llama 3.2 Vision: ``<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>What ...?<|eot_id|>``
then ``<|start_header_id|>assistant<|end_header_id|>\n\n``, without the default system turn of text-only chats."""


def _mllama() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Llama 3.2 Vision (Mllama): one ``<|image|>`` token in the text; the image enters through a cross-attention
    layer (layer 1 of 3) over the vision tower's features of up to 4 tiles of 32 px, each 1 CLS + 4 x 4 patches.

    The tower is 2 local layers (the features of layer 0 are kept as well) and 1 global layer over all tiles. The
    processor picks the canvas of at most 4 tiles that needs the least scaling: an 84 x 56 picture is scaled to
    64 x 42 on a 2 x 2 canvas (``aspect_ratio_ids`` 6), a 30 x 90 one to 16 x 48 on 3 x 1 (rows x columns).
    """
    tokenizer = build_tokenizer(
        TokenizersBackend,
        "byte_level",
        {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "pad_token": "<|finetune_right_pad_id|>"},
        ("<|start_header_id|>", "<|end_header_id|>", "<|image|>", "<|python_tag|>", "<|end_of_text|>"),
        add_bos_token=True,
    )
    image_processor = build_image_processor("MllamaImageProcessor", size={"height": 32, "width": 32}, max_image_tiles=4)
    processor = MllamaProcessor(image_processor, tokenizer, chat_template=_MLLAMA_TEMPLATE)
    vision_layers = {"num_hidden_layers": 2, "num_global_layers": 1, "intermediate_layers_indices": [0]}
    config = MllamaConfig(
        text_config=text_config(tokenizer, head_dim=None, num_hidden_layers=3, cross_attention_layers=[1]),
        vision_config={
            "hidden_size": VISION["hidden_size"],
            "intermediate_size": VISION["intermediate_size"],
            "attention_heads": VISION["num_attention_heads"],
            **vision_layers,
            # The last layer's features and those of each intermediate layer, side by side.
            "vision_output_dim": VISION["hidden_size"] * 2,
            "image_size": 32,
            "patch_size": 8,
            "max_num_tiles": 4,
        },
        image_token_index=processor.image_token_id,
    )
    return config, processor


MLLAMA = Recipe(MllamaForConditionalGeneration, _mllama)
