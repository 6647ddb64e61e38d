"""Parts of a small Hugging Face vision-language model that the toy model shares with the test zoo and the benchmarks.

:data:`LLAVA_CHAT_TEMPLATE` is the chat template of the toy model and of the zoo's LLaVA and LLaVA-NeXT;
:func:`decoder_config` writes the text decoder's config of every model the package builds from scratch (the toy model,
each zoo model, each benchmarked model), sized to its tokenizer; :func:`chat_inputs` turns conversations into the
tensors such a model generates from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from transformers import BatchFeature, PreTrainedTokenizerBase, ProcessorMixin

LLAVA_CHAT_TEMPLATE = r"""
{%- for message in messages -%}
{{ message['role'].upper() + ': ' }}
{%- if message['content'] is string -%}{{ message['content'] + ' ' }}
{%- else -%}
{%- for item in message['content'] if item['type'] == 'image' -%}{{ '<image>\n' }}{%- endfor -%}
{%- for item in message['content'] if item['type'] == 'text' -%}{{ item['text'] + ' ' }}{%- endfor -%}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"""
"""LLaVA 1.5: ``USER: <image>\\nWhat ...? ASSISTANT:`` (the tokenizer adds ``<s>``)."""


def decoder_config(
    tokenizer: PreTrainedTokenizerBase,
    *,
    hidden_size: int,
    intermediate_size: int,
    num_hidden_layers: int,
    num_attention_heads: int,
    num_key_value_heads: int,
    head_dim: int | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """The ``text_config`` dict of a decoder of the given sizes whose vocabulary and special tokens are ``tokenizer``'s.

    Args:
        tokenizer: gives ``vocab_size`` (its length) and the ``pad``, ``bos`` and ``eos`` token ids.
        head_dim: channels per head; ``None`` leaves it out, for the configs that derive it from the width.
        **settings: further config entries (``model_type``, ``sliding_window``...); they replace those written here,
            e.g. ``eos_token_id=[eos, end_of_turn]``.
    """
    sizes = {
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "num_hidden_layers": num_hidden_layers,
        "num_attention_heads": num_attention_heads,
        "num_key_value_heads": num_key_value_heads,
    }
    if head_dim is not None:
        sizes["head_dim"] = head_dim
    return {
        **sizes,
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        **settings,
    }


def chat_inputs(processor: ProcessorMixin, messages: Sequence[Any], **options: Any) -> BatchFeature:
    """Model inputs for ``model.generate(**inputs)`` and ``SaliencyExtractor.capture(**inputs)``: ``messages`` through
    the processor's chat template with the assistant's generation prompt, tokenized to PyTorch tensors.

    Args:
        processor: a vision-language processor with a chat template (the toy model's, a zoo model's, a hub model's).
        messages: one conversation, a list of turns such as a toy :class:`~vl_saliency_widget.demo.Sample`'s
            ``messages`` (pictures inline as ``{"type": "image", "image": picture}``), or a list of conversations
            for a batch, one row each.
        **options: further arguments of ``apply_chat_template``, e.g. ``processor_kwargs={"do_pan_and_scan": True}``.

    Returns:
        ``input_ids`` and ``attention_mask`` ``[conversations, T]``, ``pixel_values`` and the processor's extras.
    """
    inputs = processor.apply_chat_template(
        cast(Any, messages),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        **options,
    )
    return cast(BatchFeature, inputs)
