"""Gemma 3 and PaliGemma: a SigLIP tower on one 32 px square, 16 image tokens, a Gemma decoder."""

from __future__ import annotations

from transformers import (
    Gemma3Config,
    Gemma3ForConditionalGeneration,
    Gemma3Processor,
    GemmaTokenizer,
    PaliGemmaConfig,
    PaliGemmaForConditionalGeneration,
    PaliGemmaProcessor,
    PreTrainedConfig,
    ProcessorMixin,
)

from ..tokenizer import build_tokenizer
from .common import SIGLIP, TEXT, Recipe, build_image_processor, text_config

_GEMMA_TOKENS = {
    "pad_token": "<pad>",
    "eos_token": "<eos>",
    "bos_token": "<bos>",
    "unk_token": "<unk>",
}

_GEMMA3_TEMPLATE = r"""{{ bos_token }}
{%- for message in messages -%}
{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\n' }}
{%- if message['content'] is string -%}
{{ message['content'] | trim }}
{%- else -%}
{%- for item in message['content'] -%}
{%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}
{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"""
"""Gemma 3: ``<bos><start_of_turn>user\\n<start_of_image>What ...?<end_of_turn>\\n<start_of_turn>model\\n``."""

_PALIGEMMA_TEMPLATE = r"""
{%- for message in messages if message['content'] is not string -%}
{%- for item in message['content'] if item['type'] == 'image' -%}{{ '<image>' }}{%- endfor -%}
{%- endfor -%}
{%- for message in messages -%}
{%- if message['content'] is string -%}{{ message['content'] }}
{%- else -%}{%- for item in message['content'] if item['type'] == 'text' -%}{{ item['text'] }}{%- endfor -%}
{%- endif -%}
{%- endfor -%}"""
"""PaliGemma: every image first, then the prefix text; the processor adds ``<bos>`` after the images and a newline."""


def _gemma3() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Gemma 3: a 32 px SigLIP tower with 4 px patches (8 x 8), average-pooled to 4 x 4 = 16 image tokens."""
    tokenizer = build_tokenizer(
        GemmaTokenizer,
        "sentencepiece",
        {
            **_GEMMA_TOKENS,
            "mask_token": "<mask>",
            "image_token": "<image_soft_token>",
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
        },
        ("<start_of_turn>", "<end_of_turn>"),
        add_bos_token=True,
    )
    image_processor = build_image_processor("Gemma3ImageProcessor", size={"height": 32, "width": 32})
    processor = Gemma3Processor(image_processor, tokenizer, chat_template=_GEMMA3_TEMPLATE, image_seq_length=16)
    # Pan-and-scan (off unless asked for) with crops of at least 16 px instead of 256, so that small pictures are cut:
    # Gemma3Processor passes its own defaults to the image processor, whose settings stay unset as on the hub.
    processor.images_kwargs = {**Gemma3Processor.images_kwargs, "pan_and_scan_min_crop_size": 16}  # type: ignore[typeddict-unknown-key]
    config = Gemma3Config(
        text_config=text_config(
            tokenizer,
            query_pre_attn_scalar=TEXT["head_dim"],
            sliding_window=512,
            layer_types=["sliding_attention", "full_attention"],
            eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>")],
        ),
        vision_config={**SIGLIP, "image_size": 32, "patch_size": 4},
        mm_tokens_per_image=processor.image_seq_length,
        boi_token_index=tokenizer.boi_token_id,
        eoi_token_index=tokenizer.eoi_token_id,
        image_token_index=tokenizer.image_token_id,
    )
    return config, processor


def _paligemma() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """PaliGemma: a 32 px SigLIP tower with 8 px patches, 4 x 4 = 16 image tokens, a Gemma decoder."""
    tokenizer = build_tokenizer(
        GemmaTokenizer, "sentencepiece", {**_GEMMA_TOKENS, "image_token": "<image>"}, add_bos_token=True
    )
    image_processor = build_image_processor(
        "SiglipImageProcessor", size={"height": 32, "width": 32}, image_seq_length=16
    )
    # The processor adds PaliGemma's 1024 <locNNNN> and 128 <segNNN> tokens, so the vocabulary is sized after it.
    processor = PaliGemmaProcessor(image_processor, tokenizer, chat_template=_PALIGEMMA_TEMPLATE)
    config = PaliGemmaConfig(
        text_config=text_config(tokenizer, model_type="gemma"),
        vision_config={**SIGLIP, "image_size": 32, "patch_size": 8},
        image_token_index=tokenizer.image_token_id,
        vocab_size=len(tokenizer),
        projection_dim=TEXT["hidden_size"],
        hidden_size=TEXT["hidden_size"],
    )
    return config, processor


GEMMA3 = Recipe(Gemma3ForConditionalGeneration, _gemma3)
PALIGEMMA = Recipe(PaliGemmaForConditionalGeneration, _paligemma)
