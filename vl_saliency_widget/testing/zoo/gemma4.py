"""Gemma 4: pictures at their own aspect ratio cut into patches, a vision encoder whose k x k patches are averaged into
one soft token each, and a Gemma 4 decoder.

The tiny decoder carries the features of the family's sizes together, so that each runs through the capture: per-layer
input embeddings (E2B, E4B), keys reused as values and fewer key/value heads in the full-attention layers, image
tokens attending to each other both ways in the sliding-window layers (31B, 26B-A4B), a mixture-of-experts block next
to the dense MLP (26B-A4B) and softcapped logits.
"""

from __future__ import annotations

from typing import Any

from transformers import (
    Gemma4Config,
    Gemma4ForConditionalGeneration,
    Gemma4Processor,
    GemmaTokenizer,
    PreTrainedConfig,
    ProcessorMixin,
)
from transformers.models.gemma4.feature_extraction_gemma4 import Gemma4AudioFeatureExtractor

from ..tokenizer import build_tokenizer
from .common import TEXT, VISION, Recipe, build_image_processor, text_config, token_id

_TOKENS = {
    "pad_token": "<pad>",
    "eos_token": "<eos>",
    "bos_token": "<bos>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
    "image_token": "<|image|>",
    "boi_token": "<|image>",
    "eoi_token": "<image|>",
    "audio_token": "<|audio|>",
    "boa_token": "<|audio>",
    "eoa_token": "<audio|>",
}
"""Gemma 4's named special tokens (``Gemma4Processor`` reads the image and audio ones from the tokenizer)."""

_CONTROL = ("<|turn>", "<turn|>", "<|video|>")
"""Turn delimiters, and the video placeholder ``Gemma4Processor`` adds to the tokenizer (already there, as on the
hub, so the vocabulary does not grow after the model is sized)."""

_TEMPLATE = r"""{{ bos_token }}
{%- for message in messages -%}
{{ '<|turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\n' }}
{%- if message['content'] is string -%}{{ message['content'] | trim }}
{%- else -%}
{%- for item in message['content'] -%}
{%- if item['type'] == 'image' -%}{{ '<|image|>' }}
{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{{ '<turn|>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|turn>model\n' }}{%- endif -%}"""
"""Gemma 4: ``<bos><|turn>user\\n<|image|>What ...?<turn|>\\n<|turn>model\\n``; the processor expands ``<|image|>``
into ``<|image>`` + one ``<|image|>`` per soft token + ``<image|>``."""

_PATCH = 4
_POOL = 3


def _processor(tokenizer: Any, chat_template: str) -> ProcessorMixin:
    """``Gemma4Processor`` with its audio feature extractor, its image processor (4 px patches, pooled 3 x 3, at most
    70 soft tokens per picture) and no video processor.

    transformers' video processors need torchvision; ``ProcessorMixin.__init__`` checks the class of every
    sub-processor, so that one check is skipped for the absent video processor (as :func:`.common.processor_with_video`
    does for the processors that take the video processor third).
    """
    image_processor = build_image_processor(
        "Gemma4ImageProcessor", patch_size=_PATCH, pooling_kernel_size=_POOL, max_soft_tokens=70
    )
    processor = Gemma4Processor.__new__(Gemma4Processor)
    check_class = processor.check_argument_for_proper_class

    def check_all_but_video(argument_name: str, argument: object) -> object:
        return None if argument_name == "video_processor" else check_class(argument_name, argument)

    processor.check_argument_for_proper_class = check_all_but_video  # type: ignore[method-assign]
    Gemma4Processor.__init__(
        processor,
        feature_extractor=Gemma4AudioFeatureExtractor(),
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=None,
        chat_template=chat_template,
        image_seq_length=70,
    )
    del processor.check_argument_for_proper_class
    return processor


def _gemma4() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Gemma 4: a 2-layer vision encoder of width 32 on 4 px patches, pooled 3 x 3 (one soft token per 12 x 12 px);
    pictures are resized, aspect ratio kept, to multiples of 12 px holding at most 70 soft tokens: an 84 x 56 picture
    becomes 120 x 72 px, 30 x 18 patches, a 6 x 10 grid of image tokens.

    Decoder: layer 0 sliding-window attention (16-channel heads, 2 key/value heads; image tokens see each other both
    ways), layer 1 full attention (32-channel heads, 1 key/value head whose keys are also its values, a quarter of each
    head rotated), per-layer input embeddings of width 16, a 4-expert block (2 per token) beside each dense MLP, and
    logits softcapped at 30.
    """
    tokenizer = build_tokenizer(GemmaTokenizer, "sentencepiece", _TOKENS, _CONTROL, add_bos_token=True)
    processor = _processor(tokenizer, _TEMPLATE)
    decoder = text_config(
        tokenizer,
        eos_token_id=[tokenizer.eos_token_id, token_id(tokenizer, "<turn|>")],
        layer_types=["sliding_attention", "full_attention"],
        sliding_window=512,
        global_head_dim=2 * TEXT["head_dim"],
        attention_k_eq_v=True,
        num_global_key_value_heads=1,
        use_bidirectional_attention="vision",
        hidden_size_per_layer_input=16,
        vocab_size_per_layer_input=len(tokenizer),
        enable_moe_block=True,
        num_experts=4,
        top_k_experts=2,
        moe_intermediate_size=32,
        final_logit_softcapping=30.0,
    )
    config = Gemma4Config(
        text_config=decoder,
        vision_config={
            "hidden_size": VISION["hidden_size"],
            "intermediate_size": VISION["intermediate_size"],
            "num_hidden_layers": VISION["num_hidden_layers"],
            "num_attention_heads": VISION["num_attention_heads"],
            "num_key_value_heads": VISION["num_attention_heads"],
            "head_dim": VISION["hidden_size"] // VISION["num_attention_heads"],
            "patch_size": _PATCH,
            "pooling_kernel_size": _POOL,
            "position_embedding_size": 64,
        },
        audio_config=None,
        image_token_id=tokenizer.image_token_id,
        boi_token_id=tokenizer.boi_token_id,
        eoi_token_id=tokenizer.eoi_token_id,
        video_token_id=token_id(tokenizer, "<|video|>"),
        audio_token_id=tokenizer.audio_token_id,
        boa_token_id=tokenizer.boa_token_id,
        eoa_token_index=tokenizer.eoa_token_id,
    )
    return config, processor


GEMMA4 = Recipe(Gemma4ForConditionalGeneration, _gemma4)
