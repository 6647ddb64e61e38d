"""The inputs of a teacher-forced pass: the processor's outputs extended to the prompt and its answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


def input_device(model: nn.Module) -> torch.device:
    """Where the input ids go: the input embedding's device (CPU when its weights are offloaded)."""
    embeddings = model.get_input_embeddings()  # type: ignore[operator]
    device = embeddings.weight.device
    return torch.device("cpu") if device.type == "meta" else device


def teacher_forced_inputs(
    model: nn.Module, ids: torch.Tensor, prompt_len: int, inputs: Mapping[str, Any]
) -> dict[str, Any]:
    """The processor outputs ``inputs`` of a prompt of ``prompt_len`` tokens, extended to the whole sequence
    ``ids`` [1, T] the way ``generate`` extends them, on the model's input device.

    Per-token tensors (``attention_mask``, ``token_type_ids``, ``mm_token_type_ids``, Mllama's
    ``cross_attention_mask``) get their generated part from the model's own ``_update_model_kwargs_for_generation``,
    so the pass sees the masks the generation saw (PaliGemma marks generated tokens as suffix; Gemma 3 repeats the
    last type id). Tensors are copied, so inputs made under ``torch.inference_mode`` can enter the autograd graph.
    """
    device = input_device(model)
    # labels (PaliGemma's processor returns them) are training targets, not inputs of this pass.
    kwargs = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in inputs.items() if k != "labels"}
    kwargs.pop("input_ids", None)
    if kwargs.get("attention_mask") is None:
        kwargs["attention_mask"] = torch.ones(1, prompt_len, dtype=torch.long)
    new = ids.shape[1] - prompt_len
    if new:
        extend = getattr(model, "_update_model_kwargs_for_generation", None)
        if extend is None:
            raise TypeError(f"{type(model).__name__} is not a generative model (no GenerationMixin).")
        # Generation appends one step per token along the sequence axis; the model's own one-step update says
        # which inputs grow (attention_mask, token_type_ids, Mllama's cross_attention_mask...) and with what.
        step = extend(outputs={}, model_kwargs=dict(kwargs), is_encoder_decoder=False, num_new_tokens=1)
        for key, value in kwargs.items():
            grown = step.get(key)
            if not isinstance(value, torch.Tensor) or not isinstance(grown, torch.Tensor) or grown is value:
                continue
            if value.ndim < 2 or value.shape[1] != prompt_len or grown.shape[1] != prompt_len + 1:
                raise ValueError(f"Could not extend the processor output {key!r} to the generated tokens.")
            tail = grown[:, -1:].repeat(1, new, *([1] * (grown.ndim - 2)))
            kwargs[key] = torch.cat([value, tail], dim=1)
    kwargs["input_ids"] = ids.clone()
    kwargs["use_cache"] = False
    kwargs["return_dict"] = True
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
