"""What the zoo's recipes share: the tiny sizes, the recipe record, and helpers to assemble configs and processors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import transformers
from transformers import PreTrainedConfig, PreTrainedModel, PreTrainedTokenizerBase, ProcessorMixin
from transformers.image_processing_utils import BaseImageProcessor
from transformers.utils import is_torchvision_available

from ...demo.parts import decoder_config

TEXT = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
}
"""Text decoder sizes shared by every entry: grouped-query attention, 2 query heads per key/value head."""

VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
"""Vision encoder sizes shared by every tower (the Qwen-VL and Mllama configs name them their own way)."""

SIGLIP = {"model_type": "siglip_vision_model", **VISION, "vision_use_head": False}
"""The SigLIP tower of Gemma 3, PaliGemma, LLaVA-OneVision and Aya Vision: patch features only, without the pooling
head they never use."""


@dataclass(frozen=True)
class Recipe:
    """How to build one architecture of the zoo."""

    model_class: type[PreTrainedModel]
    parts: Callable[[], tuple[PreTrainedConfig, ProcessorMixin]]
    """Builds the config and the processor (which holds the tokenizer and the chat template)."""
    example_image_size: tuple[int, int] = (84, 56)
    """``(width, height)`` in pixels of the picture :func:`tiny_inputs` uses when given none."""


def text_config(tokenizer: PreTrainedTokenizerBase, **settings: Any) -> dict[str, Any]:
    """The :data:`TEXT` decoder's config sized to ``tokenizer`` (its vocabulary, ``pad``, ``bos`` and ``eos`` ids).

    ``settings`` add entries or replace those; ``head_dim=None`` leaves the head width out, for the configs that
    derive it from the width.
    """
    return decoder_config(tokenizer, **{**TEXT, **settings})


def build_image_processor(class_name: str, **kwargs: Any) -> BaseImageProcessor:
    """The image processor ``AutoImageProcessor`` picks: ``class_name`` given torchvision, else its PIL twin."""
    backend_name = class_name if is_torchvision_available() else f"{class_name}Pil"
    image_processor_class: type[BaseImageProcessor] = getattr(transformers, backend_name)
    return image_processor_class(**kwargs)


def processor_with_video(
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


def token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    """The id of ``token``, one token of ``tokenizer``'s vocabulary."""
    found = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(found, int):
        raise TypeError(f"{token!r} is not one token of {type(tokenizer).__name__}.")
    return found


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


def chatml_template(image: str, default_system: str | None = None) -> str:
    """A ChatML chat template: ``<|im_start|>user\n`` + ``image`` per image + ``What ...?<|im_end|>\n``, then
    ``<|im_start|>assistant\n``; ``default_system`` is the system turn of a conversation that starts without one.

    Both are written inside Jinja string literals: ``\\n`` in them is a newline.
    """
    head = "{%- set image_placeholder = '" + image + "' -%}"
    if default_system is not None:
        head += "{%- if messages[0]['role'] != 'system' -%}"
        head += "{{ '<|im_start|>system\\n" + default_system + "<|im_end|>\\n' }}{%- endif -%}"
    return head + _CHATML_TURNS
