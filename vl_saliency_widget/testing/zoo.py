"""A zoo of tiny random-weight vision-language models with their real Hugging Face processors, built offline.

Each entry is the ``*ForConditionalGeneration`` class a user loads, with the processor class and image processor of
that model, a chat template in the style of the hub model's, and a small word-level tokenizer of the model's own
tokenizer class (see :mod:`.tokenizer`). Only the sizes are tiny: 2 text layers of width 64 with 4 query heads over
2 key/value heads (16 channels each; Mllama has a third, its cross-attention layer), 2 vision layers of width 32, and
a few dozen to about a hundred image tokens per image. The tiling architectures (Idefics3, SmolVLM, InternVL,
LLaVA-NeXT, LLaVA-OneVision, Aya Vision, Mllama) use tiles of 16 to 48 px, so that the 84 x 56 example picture and a
1:3 portrait are cut into several tiles.

Adding an architecture is one ``_Recipe`` in ``_RECIPES``: a function that returns the config and the processor, the
model class, and the size of the example picture.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import transformers
from PIL import Image
from transformers import (
    AyaVisionConfig,
    AyaVisionForConditionalGeneration,
    AyaVisionProcessor,
    BatchFeature,
    CohereTokenizer,
    Gemma3Config,
    Gemma3ForConditionalGeneration,
    Gemma3Processor,
    GemmaTokenizer,
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3Processor,
    InternVLConfig,
    InternVLForConditionalGeneration,
    InternVLProcessor,
    LlamaTokenizer,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaNextConfig,
    LlavaNextForConditionalGeneration,
    LlavaNextProcessor,
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionProcessor,
    LlavaProcessor,
    Mistral3Config,
    Mistral3ForConditionalGeneration,
    MllamaConfig,
    MllamaForConditionalGeneration,
    MllamaProcessor,
    PaliGemmaConfig,
    PaliGemmaForConditionalGeneration,
    PaliGemmaProcessor,
    PreTrainedConfig,
    PreTrainedModel,
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
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
    SmolVLMProcessor,
    TokenizersBackend,
)
from transformers.image_processing_utils import BaseImageProcessor
from transformers.models.pixtral import image_processing_pil_pixtral
from transformers.models.smolvlm.video_processing_smolvlm import SmolVLMVideoProcessor
from transformers.utils import is_torchvision_available

from ..demo.parts import LLAVA_CHAT_TEMPLATE
from .images import tiny_image
from .tokenizer import build_tokenizer

_TEXT = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
}
"""Text decoder sizes shared by every entry: grouped-query attention, 2 query heads per key/value head."""

_VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
"""Vision encoder sizes shared by the SigLIP and CLIP towers."""

_SIGLIP = {"model_type": "siglip_vision_model", **_VISION, "vision_use_head": False}
"""The SigLIP tower of Gemma 3 and PaliGemma: patch features only, without the pooling head they never use."""

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


_CHATML_TURNS = r"""
{%- for message in messages -%}
{{ '<|im_start|>' + message['role'] + '\n' }}
{%- if message['content'] is string -%}{{ message['content'] }}
{%- else -%}
{%- for item in message['content'] -%}
{%- if item['type'] == 'image' -%}{{ image_placeholder }}
{%- elif item['type'] == 'text' -%}{{ item['text'] }}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{{ '<|im_end|>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"""


def _chatml_template(image: str, default_system: str | None = None) -> str:
    """A ChatML chat template: ``<|im_start|>user\n`` + ``image`` per image + ``What ...?<|im_end|>\n``, then
    ``<|im_start|>assistant\n``; ``default_system`` is the system turn of a conversation that starts without one.

    Both are written inside Jinja string literals: ``\\n`` in them is a newline.
    """
    head = "{%- set image_placeholder = '" + image + "' -%}"
    if default_system is not None:
        head += "{%- if messages[0]['role'] != 'system' -%}"
        head += "{{ '<|im_start|>system\\n" + default_system + "<|im_end|>\\n' }}{%- endif -%}"
    return head + _CHATML_TURNS


_QWEN_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
"""The image placeholder of the Qwen-VL chat templates, which the processor expands."""

_IDEFICS3_TURNS = r"""
{%- for message in messages -%}
{{ message['role'] | capitalize }}
{%- if message['content'] is string -%}{{ ': ' + message['content'] }}
{%- else -%}
{{ ':' if message['content'][0]['type'] == 'image' else ': ' }}
{%- for item in message['content'] -%}
{%- if item['type'] == 'image' -%}{{ '<image>' }}
{%- elif item['type'] == 'text' -%}{{ item['text'] }}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{{ '<end_of_utterance>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ 'Assistant:' }}{%- endif -%}"""
"""Idefics3 and SmolVLM, after their first token: ``User:<image>What ...?<end_of_utterance>\nAssistant:``."""

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


def _image_processor(class_name: str, **kwargs: Any) -> BaseImageProcessor:
    """The image processor ``AutoImageProcessor`` picks: ``class_name`` given torchvision, else its PIL twin."""
    backend_name = class_name if is_torchvision_available() else f"{class_name}Pil"
    image_processor_class: type[BaseImageProcessor] = getattr(transformers, backend_name)
    return image_processor_class(**kwargs)


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
    image_processor = _image_processor("Gemma3ImageProcessor", size={"height": 32, "width": 32})
    processor = Gemma3Processor(image_processor, tokenizer, chat_template=_GEMMA3_TEMPLATE, image_seq_length=16)
    # Pan-and-scan (off unless asked for) with crops of at least 16 px instead of 256, so that small pictures are cut:
    # Gemma3Processor passes its own defaults to the image processor, whose settings stay unset as on the hub.
    processor.images_kwargs = {**Gemma3Processor.images_kwargs, "pan_and_scan_min_crop_size": 16}  # type: ignore[typeddict-unknown-key]
    config = Gemma3Config(
        text_config={
            **_TEXT,
            "vocab_size": len(tokenizer),
            "query_pre_attn_scalar": _TEXT["head_dim"],
            "sliding_window": 512,
            "layer_types": ["sliding_attention", "full_attention"],
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>")],
        },
        vision_config={**_SIGLIP, "image_size": 32, "patch_size": 4},
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
    image_processor = _image_processor("SiglipImageProcessor", size={"height": 32, "width": 32}, image_seq_length=16)
    # The processor adds PaliGemma's 1024 <locNNNN> and 128 <segNNN> tokens, so the vocabulary is sized after it.
    processor = PaliGemmaProcessor(image_processor, tokenizer, chat_template=_PALIGEMMA_TEMPLATE)
    config = PaliGemmaConfig(
        text_config={
            "model_type": "gemma",
            **_TEXT,
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={**_SIGLIP, "image_size": 32, "patch_size": 8},
        image_token_index=tokenizer.image_token_id,
        vocab_size=len(tokenizer),
        projection_dim=_TEXT["hidden_size"],
        hidden_size=_TEXT["hidden_size"],
    )
    return config, processor


def _llama_tokenizer() -> PreTrainedTokenizerBase:
    """The Llama tokenizer of LLaVA 1.5 and LLaVA-NeXT (Vicuna), with ``<image>`` and ``<pad>``."""
    return build_tokenizer(
        LlamaTokenizer,
        "sentencepiece",
        {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "image_token": "<image>"},
        add_bos_token=True,
    )


def _llama_text_config(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """The Llama decoder of LLaVA 1.5, LLaVA-NeXT, Idefics3 and SmolVLM, sized to ``tokenizer``."""
    return {
        "model_type": "llama",
        **_TEXT,
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }


def _llava() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """LLaVA 1.5: a 32 px CLIP tower with 4 px patches, CLS dropped, 8 x 8 = 64 image tokens, a Llama decoder."""
    tokenizer = _llama_tokenizer()
    image_processor = _image_processor(
        "CLIPImageProcessor", size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor = LlavaProcessor(
        image_processor,
        tokenizer,
        patch_size=4,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )
    config = LlavaConfig(
        text_config=_llama_text_config(tokenizer),
        vision_config={"model_type": "clip_vision_model", **_VISION, "image_size": 32, "patch_size": 4},
        image_token_index=tokenizer.image_token_id,
        image_seq_length=64,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    return config, processor


def _llava_next() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """LLaVA-NeXT (Vicuna): a 16 px CLIP tower with 4 px patches, "anyres" tiling on a grid of 16 px tiles.

    One image gives the base view (4 x 4 tokens, CLS dropped) then the tiles of the best of 16 x 32, 32 x 16 and
    32 x 32 px stitched together, their padding removed, with a newline feature after every row. An 84 x 56 picture
    takes 2 x 2 tiles (8 x 8 patches), unpadded to 6 rows x 8 columns: 16 + 6 * (8 + 1) = 70 image tokens.
    """
    tokenizer = _llama_tokenizer()
    pinpoints = [[16, 32], [32, 16], [32, 32]]
    image_processor = _image_processor(
        "LlavaNextImageProcessor",
        size={"shortest_edge": 16},
        crop_size={"height": 16, "width": 16},
        image_grid_pinpoints=pinpoints,
    )
    processor = LlavaNextProcessor(
        image_processor,
        tokenizer,
        patch_size=4,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )
    config = LlavaNextConfig(
        text_config=_llama_text_config(tokenizer),
        vision_config={"model_type": "clip_vision_model", **_VISION, "image_size": 16, "patch_size": 4},
        image_token_index=tokenizer.image_token_id,
        image_grid_pinpoints=pinpoints,
        image_seq_length=16,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    return config, processor


def _processor_with_video(
    processor_class: type[ProcessorMixin],
    image_processor: BaseImageProcessor,
    tokenizer: PreTrainedTokenizerBase,
    video_processor: object,
    **kwargs: Any,
) -> ProcessorMixin:
    """``processor_class(image_processor, tokenizer, video_processor, **kwargs)`` for a processor that takes videos.

    transformers' video processors need torchvision, and ``ProcessorMixin.__init__`` checks the class of every
    sub-processor, a check that fails outright without torchvision (``BaseVideoProcessor`` is not exported then).
    So such a processor cannot be built the ordinary way here; this skips that one check and keeps ``video_processor``
    as given: ``None``, or a video processor imported from its own module, which builds without torchvision for the
    processors whose ``apply_chat_template`` reads its settings. Everything else is the real ``__init__``.
    """
    processor = processor_class.__new__(processor_class)
    check_class = processor.check_argument_for_proper_class

    def check_all_but_video(argument_name: str, argument: object) -> object:
        return None if argument_name == "video_processor" else check_class(argument_name, argument)

    processor.check_argument_for_proper_class = check_all_but_video  # type: ignore[method-assign]
    processor_class.__init__(processor, image_processor, tokenizer, video_processor, **kwargs)
    del processor.check_argument_for_proper_class
    return processor


def _qwen_tokenizer() -> PreTrainedTokenizerBase:
    """The Qwen2 tokenizer of Qwen2-VL, Qwen2.5-VL and Qwen3-VL, with the vision delimiters and placeholders."""
    return build_tokenizer(
        Qwen2Tokenizer,
        "byte_level",
        {"pad_token": "<|endoftext|>", "eos_token": "<|im_end|>"},
        ("<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"),
    )


def _token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    """The id of ``token``, one token of ``tokenizer``'s vocabulary."""
    token_id = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(token_id, int):
        raise TypeError(f"{token!r} is not one token of {type(tokenizer).__name__}.")
    return token_id


def _qwen_vision_token_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """The ids of the vision placeholders and delimiters, as the Qwen-VL configs name them."""
    return {
        "image_token_id": _token_id(tokenizer, "<|image_pad|>"),
        "video_token_id": _token_id(tokenizer, "<|video_pad|>"),
        "vision_start_token_id": _token_id(tokenizer, "<|vision_start|>"),
        "vision_end_token_id": _token_id(tokenizer, "<|vision_end|>"),
    }


def _qwen_parts(
    config_class: Callable[..., PreTrainedConfig],
    processor_class: type[ProcessorMixin],
    vision: Mapping[str, Any],
) -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Qwen2-VL and Qwen2.5-VL share tokenizer, image processor and text decoder; ``vision`` is the tower's config.

    Patches are 7 px and merged 2 x 2, so images are resized to multiples of 14 px within 784 to 12544 pixels:
    an 84 x 56 picture keeps its size and gives a 4 x 6 grid of merged image tokens (``image_grid_thw`` 1, 8, 12).
    """
    tokenizer = _qwen_tokenizer()
    image_processor = _image_processor(
        "Qwen2VLImageProcessor",
        patch_size=7,
        merge_size=2,
        temporal_patch_size=2,
        size={"shortest_edge": 14 * 14 * 4, "longest_edge": 112 * 112},
    )
    processor = _processor_with_video(
        processor_class,
        image_processor,
        tokenizer,
        None,
        chat_template=_chatml_template(_QWEN_IMAGE, "You are a helpful assistant."),
    )
    config = config_class(
        text_config={
            **{key: value for key, value in _TEXT.items() if key != "head_dim"},
            "vocab_size": len(tokenizer),
            # Qwen's split of the rotary frequencies between time, height and width ([16, 24, 24] of 64), scaled to
            # the 8 frequencies of a 16-channel head.
            "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [2, 3, 3]},
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            **vision,
            "depth": 2,
            "num_heads": 4,
            "patch_size": 7,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        **_qwen_vision_token_ids(tokenizer),
    )
    return config, processor


def _qwen2_vl() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Qwen2-VL: a 2-layer tower of width 32 whose merger projects 2 x 2 patches to the decoder's width."""
    vision = {"embed_dim": _VISION["hidden_size"], "mlp_ratio": 2, "hidden_size": _TEXT["hidden_size"]}
    return _qwen_parts(Qwen2VLConfig, Qwen2VLProcessor, vision)


def _qwen2_5_vl() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Qwen2.5-VL: windowed attention in layer 0 (28 px windows, 2 x 2 merged tokens), full attention in layer 1."""
    vision = {
        "hidden_size": _VISION["hidden_size"],
        "intermediate_size": _VISION["intermediate_size"],
        "out_hidden_size": _TEXT["hidden_size"],
        "window_size": 28,
        "fullatt_block_indexes": [1],
    }
    return _qwen_parts(Qwen2_5_VLConfig, Qwen2_5_VLProcessor, vision)


_IDEFICS3_TOKENS = (
    "<fake_token_around_image>",
    "<image>",
    "<end_of_utterance>",
    "<global-img>",
    *(f"<row_{row}_col_{col}>" for row in range(1, 7) for col in range(1, 7)),
)
"""The special tokens of Idefics3 and SmolVLM: tile delimiter, placeholder, end of turn, global view, tile tags."""


def _idefics3() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Idefics3 (Llama 3): images are split into 32 px tiles of 8 x 8 patches, pixel-shuffled 2 x 2 to 4 x 4 = 16
    tokens each, followed by a 32 px global view.

    The processor scales the longest side to 96 px (3 tiles) and the other to a multiple of 32: an 84 x 56 picture
    gives 2 rows x 3 columns of tiles and the global view, 7 x 16 = 112 image tokens.
    """
    tokenizer = build_tokenizer(
        TokenizersBackend,
        "byte_level",
        {"bos_token": "<|begin_of_text|>", "eos_token": "<end_of_utterance>", "pad_token": "<|end_of_text|>"},
        _IDEFICS3_TOKENS,
        add_bos_token=True,
    )
    image_processor = _image_processor(
        "Idefics3ImageProcessor", size={"longest_edge": 96}, max_image_size={"longest_edge": 32}
    )
    template = tokenizer.bos_token + _IDEFICS3_TURNS
    processor = Idefics3Processor(image_processor, tokenizer, image_seq_len=16, chat_template=template)
    config = Idefics3Config(
        text_config=_llama_text_config(tokenizer),
        vision_config={**_VISION, "image_size": 32, "patch_size": 4},
        scale_factor=2,
        image_token_id=processor.image_token_id,
    )
    return config, processor


def _smolvlm() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """SmolVLM: as Idefics3, with 48 px tiles of 12 x 12 patches pixel-shuffled 4 x 4 to 3 x 3 = 9 tokens each.

    The processor scales the longest side to 144 px (3 tiles): an 84 x 56 picture gives 2 rows x 3 columns of tiles
    and the global view, 7 x 9 = 63 image tokens. ``SmolVLMProcessor`` needs the ``num2words`` package (for the
    prompts of videos) and reads its video processor's settings in ``apply_chat_template``.
    """
    tokenizer = build_tokenizer(
        TokenizersBackend,
        "byte_level",
        {
            "bos_token": "<|im_start|>",
            "eos_token": "<end_of_utterance>",
            "pad_token": "<|im_end|>",
            "unk_token": "<|endoftext|>",
            "fake_image_token": "<fake_token_around_image>",
            "image_token": "<image>",
            "global_image_token": "<global-img>",
            "end_of_utterance_token": "<end_of_utterance>",
        },
        _IDEFICS3_TOKENS,
    )
    image_processor = _image_processor(
        "SmolVLMImageProcessor", size={"longest_edge": 144}, max_image_size={"longest_edge": 48}
    )
    processor = _processor_with_video(
        SmolVLMProcessor,
        image_processor,
        tokenizer,
        SmolVLMVideoProcessor(),
        image_seq_len=9,
        chat_template=tokenizer.bos_token + _IDEFICS3_TURNS,
    )
    config = SmolVLMConfig(
        text_config=_llama_text_config(tokenizer),
        vision_config={**_VISION, "image_size": 48, "patch_size": 4},
        scale_factor=4,
        image_token_id=tokenizer.image_token_id,
    )
    return config, processor


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
    image_processor = _image_processor(
        "PixtralImageProcessor", size={"longest_edge": 64}, patch_size={"height": 4, "width": 4}
    )
    processor = _pixtral_processor_class()(
        image_processor, tokenizer, patch_size=4, spatial_merge_size=2, chat_template=_MISTRAL3_TEMPLATE
    )
    config = Mistral3Config(
        text_config={
            "model_type": "mistral",
            **_TEXT,
            "sliding_window": None,
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={"model_type": "pixtral", **_VISION, "image_size": 64, "patch_size": 4},
        image_token_index=_token_id(tokenizer, "[IMG]"),
        spatial_merge_size=2,
    )
    return config, processor


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
    image_processor = _image_processor(
        "GotOcr2ImageProcessor", size={"height": 32, "width": 32}, crop_to_patches=True, max_patches=6
    )
    tokens_per_tile = 4 * 4
    processor = _processor_with_video(
        InternVLProcessor,
        image_processor,
        tokenizer,
        None,
        image_seq_length=tokens_per_tile,
        chat_template=_chatml_template("<IMG_CONTEXT>\\n"),
    )
    config = InternVLConfig(
        text_config={
            "model_type": "qwen2",
            **_TEXT,
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={**_VISION, "image_size": [32, 32], "patch_size": [4, 4]},
        image_token_id=tokenizer.context_image_token_id,
        image_seq_length=tokens_per_tile,
        downsample_ratio=0.5,
    )
    return config, processor


def _qwen3_vl() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Qwen3-VL: 8 px patches merged 2 x 2, so one image token per 16 x 16 px; the features of vision layer 0 also
    enter the decoder after its layer 0 ("DeepStack"); rotary frequencies interleaved between time, height and width.

    Images are resized to multiples of 16 px within 1024 to 12544 pixels: an 84 x 56 picture becomes 80 x 64 and
    gives a 4 x 5 grid of image tokens (``image_grid_thw`` 1, 8, 10).
    """
    tokenizer = _qwen_tokenizer()
    image_processor = _image_processor(
        "Qwen2VLImageProcessor",
        patch_size=8,
        merge_size=2,
        temporal_patch_size=2,
        size={"shortest_edge": 32 * 32, "longest_edge": 112 * 112},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    processor = _processor_with_video(
        Qwen3VLProcessor, image_processor, tokenizer, None, chat_template=_chatml_template(_QWEN_IMAGE)
    )
    config = Qwen3VLConfig(
        text_config={
            **_TEXT,
            "vocab_size": len(tokenizer),
            # Qwen3-VL's interleaved split of the rotary frequencies ([24, 20, 20] of 64: height and width take every
            # third frequency from the second and third on), scaled to the 8 frequencies of a 16-channel head.
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5_000_000.0,
                "mrope_section": [4, 2, 2],
                "mrope_interleaved": True,
            },
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "depth": 2,
            "hidden_size": _VISION["hidden_size"],
            "intermediate_size": _VISION["intermediate_size"],
            "num_heads": _VISION["num_attention_heads"],
            "patch_size": 8,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": _TEXT["hidden_size"],
            "num_position_embeddings": 16 * 16,
            "deepstack_visual_indexes": [0],
        },
        **_qwen_vision_token_ids(tokenizer),
    )
    return config, processor


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
    image_processor = _image_processor(
        "LlavaOnevisionImageProcessor", size={"height": 16, "width": 16}, image_grid_pinpoints=pinpoints
    )
    processor = _processor_with_video(
        LlavaOnevisionProcessor,
        image_processor,
        tokenizer,
        None,
        num_image_tokens=16,
        vision_feature_select_strategy="full",
        chat_template=_LLAVA_ONEVISION_TEMPLATE,
    )
    config = LlavaOnevisionConfig(
        text_config={
            "model_type": "qwen2",
            **_TEXT,
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={**_SIGLIP, "image_size": 16, "patch_size": 4},
        image_token_index=tokenizer.image_token_id,
        video_token_index=tokenizer.video_token_id,
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
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
    image_processor = _image_processor(
        "GotOcr2ImageProcessor",
        size={"height": 32, "width": 32},
        crop_to_patches=True,
        max_patches=6,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    processor = AyaVisionProcessor(
        image_processor,
        tokenizer,
        patch_size=4,
        img_size=32,
        downsample_factor=2,
        chat_template=_AYA_VISION_TEMPLATE,
    )
    config = AyaVisionConfig(
        text_config={
            "model_type": "cohere2",
            **{key: value for key, value in _TEXT.items() if key != "head_dim"},
            "vocab_size": len(tokenizer),
            "sliding_window": 512,
            "layer_types": ["sliding_attention", "full_attention"],
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={**_SIGLIP, "image_size": 32, "patch_size": 4},
        downsample_factor=2,
        image_token_index=processor.image_token_id,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    return config, processor


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
    image_processor = _image_processor("MllamaImageProcessor", size={"height": 32, "width": 32}, max_image_tiles=4)
    processor = MllamaProcessor(image_processor, tokenizer, chat_template=_MLLAMA_TEMPLATE)
    vision_layers = {"num_hidden_layers": 2, "num_global_layers": 1, "intermediate_layers_indices": [0]}
    config = MllamaConfig(
        text_config={
            **{key: value for key, value in _TEXT.items() if key != "head_dim"},
            "num_hidden_layers": 3,
            "cross_attention_layers": [1],
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "hidden_size": _VISION["hidden_size"],
            "intermediate_size": _VISION["intermediate_size"],
            "attention_heads": _VISION["num_attention_heads"],
            **vision_layers,
            # The last layer's features and those of each intermediate layer, side by side.
            "vision_output_dim": _VISION["hidden_size"] * 2,
            "image_size": 32,
            "patch_size": 8,
            "max_num_tiles": 4,
        },
        image_token_index=processor.image_token_id,
    )
    return config, processor


@dataclass(frozen=True)
class _Recipe:
    """How to build one architecture of the zoo."""

    model_class: type[PreTrainedModel]
    parts: Callable[[], tuple[PreTrainedConfig, ProcessorMixin]]
    example_image_size: tuple[int, int] = (84, 56)
    """``(width, height)`` in pixels of the picture :func:`tiny_inputs` uses when given none."""


_RECIPES: dict[str, _Recipe] = {
    "gemma3": _Recipe(Gemma3ForConditionalGeneration, _gemma3),
    "paligemma": _Recipe(PaliGemmaForConditionalGeneration, _paligemma),
    "llava": _Recipe(LlavaForConditionalGeneration, _llava),
    "llava_next": _Recipe(LlavaNextForConditionalGeneration, _llava_next),
    "qwen2_vl": _Recipe(Qwen2VLForConditionalGeneration, _qwen2_vl),
    "qwen2_5_vl": _Recipe(Qwen2_5_VLForConditionalGeneration, _qwen2_5_vl),
    "idefics3": _Recipe(Idefics3ForConditionalGeneration, _idefics3),
    "smolvlm": _Recipe(SmolVLMForConditionalGeneration, _smolvlm),
    "mistral3": _Recipe(Mistral3ForConditionalGeneration, _mistral3),
    "internvl": _Recipe(InternVLForConditionalGeneration, _internvl),
    "qwen3_vl": _Recipe(Qwen3VLForConditionalGeneration, _qwen3_vl),
    "llava_onevision": _Recipe(LlavaOnevisionForConditionalGeneration, _llava_onevision),
    "aya_vision": _Recipe(AyaVisionForConditionalGeneration, _aya_vision),
    "mllama": _Recipe(MllamaForConditionalGeneration, _mllama),
}

ARCHITECTURES: tuple[str, ...] = (
    "gemma3",
    "paligemma",
    "llava",
    "qwen2_vl",
    "qwen2_5_vl",
    "llava_next",
    "idefics3",
    "smolvlm",
    "mistral3",
    "internvl",
    "qwen3_vl",
    "llava_onevision",
    "aya_vision",
    "mllama",
)
"""Every architecture :func:`tiny_vlm` builds, by transformers ``model_type``; the package has an image layout for
each (:func:`vl_saliency_widget.layouts.registered_model_types` lists the same names), so each runs end to end."""


def _recipe(name: str) -> _Recipe:
    if name not in _RECIPES:
        raise ValueError(f"Unknown tiny architecture {name!r}; choose one of {', '.join(_RECIPES)}.")
    return _RECIPES[name]


def _randomize_zero_initialised(model: PreTrainedModel, std: float) -> None:
    """Draw the weights that their initialiser left at zero and that would cut the image off the text.

    Every weight matrix left all zero is drawn from ``N(0, std^2)``: some projectors start at zero (Gemma 3's
    ``mm_input_projection_weight``), which would make every image embed to the same vector. Every one-number gate left
    at zero is drawn from ``N(0, 1)``, so that ``tanh(gate)`` is of order one: Mllama scales its cross-attention
    layers and its tile position embeddings by such gates, which a trained model has learned away from zero. Vectors
    that start at zero (biases, Gemma's ``1 + weight`` norms) are left as they are.
    """
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.any():
                continue
            if parameter.ndim >= 2:
                parameter.normal_(0.0, std)
            elif parameter.numel() == 1:
                parameter.normal_(0.0, 1.0)


def tiny_vlm(name: str, seed: int = 0) -> tuple[PreTrainedModel, ProcessorMixin]:
    """Build a tiny random-weight vision-language model and its processor.

    Args:
        name: one of :data:`ARCHITECTURES`.
        seed: seeds the weights; the same seed gives an identical ``state_dict``. The global torch random state is
            left as it was.

    Returns:
        ``(model, processor)``: a fresh ``*ForConditionalGeneration`` in eval mode with the attention implementation
        ``from_pretrained`` would give (normally ``"sdpa"``), and its processor, which carries a chat template.

    Raises:
        ValueError: ``name`` is not the name of an architecture of the zoo.
    """
    recipe = _recipe(name)
    config, processor = recipe.parts()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = recipe.model_class._from_config(config)
        _randomize_zero_initialised(model, std=config.get_text_config().initializer_range)
    # A trained model never emits its image placeholder; random weights would, even when sampling a short answer.
    model.generation_config.suppress_tokens = [int(config.image_token_id)]
    return model.eval(), processor


def tiny_inputs(
    name: str,
    processor: ProcessorMixin,
    images: Sequence[Image.Image] | None = None,
    prompt: str = "What color is the circle?",
    **processor_kwargs: Any,
) -> BatchFeature:
    """Model inputs for one user turn through the processor's chat template, with a generation prompt.

    Args:
        name: the architecture given to :func:`tiny_vlm`; picks the example picture's size.
        processor: the processor returned by :func:`tiny_vlm` for ``name``.
        images: the pictures of the turn, in order before the prompt; ``None`` means one :func:`tiny_image` of
            the recipe's example size (84 x 56 px).
        prompt: the text of the turn.
        **processor_kwargs: passed to the processor call, e.g. ``do_pan_and_scan=True`` for Gemma 3, whose zoo
            processor then cuts a picture of aspect ratio 1.2 or more into 2 to 4 crops of at least 16 px along its
            long side, each one more block of image tokens after the full picture's.

    Returns:
        A ``BatchFeature`` of tensors for ``model(**inputs)`` or ``model.generate(**inputs)``: ``input_ids`` and
        ``attention_mask`` ``[1, T]``, ``pixel_values`` and the architecture's extras (``token_type_ids``,
        ``image_grid_thw`` ``[images, 3]``...).
    """
    if images is None:
        images = [tiny_image(size=_recipe(name).example_image_size)]
    content = [*({"type": "image", "image": image} for image in images), {"type": "text", "text": prompt}]
    conversation: Any = [{"role": "user", "content": content}]  # transformers annotates ``content`` as a string
    inputs = processor.apply_chat_template(
        conversation,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        add_generation_prompt=True,
        processor_kwargs=processor_kwargs,
    )
    return cast(BatchFeature, inputs)
