"""A zoo model with its chat-template inputs and a short greedy answer, for tests that capture from a real model.

Import it as ``from tests.cases import Case, make_case``. ``tests/conftest.py`` builds the tiny Qwen2-VL case that
several modules share (``qwen_case``, ``qwen_trace``); ``tests/core/conftest.py`` gives one case per architecture.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from vl_saliency_widget.testing import tiny_image, tiny_inputs, tiny_vlm


@dataclass
class Case:
    """A zoo model with a prompt and its generated answer."""

    name: str
    model: Any
    processor: Any
    inputs: dict[str, torch.Tensor]
    generated: torch.Tensor
    image: Any

    def eager_copy(self) -> Any:
        """An independent copy of the model running plain eager attention (the oracle)."""
        oracle = copy.deepcopy(self.model)
        oracle.set_attn_implementation("eager")
        return oracle.eval()


def make_case(name: str, new_tokens: int = 4) -> Case:
    """The zoo model ``name`` asked about one :func:`tiny_image`, with exactly ``new_tokens`` greedy answer tokens."""
    model, processor = tiny_vlm(name)
    image = tiny_image()
    inputs = dict(tiny_inputs(name, processor, images=[image]))
    with torch.inference_mode():
        generated = model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
    # generate ran under inference_mode; the oracles need ordinary tensors to build autograd graphs.
    return Case(name, model, processor, inputs, generated.clone(), image)
