"""Shared fixtures for the capture tests: a zoo model, its chat-template inputs and a short greedy answer."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from vl_saliency_widget.testing import ARCHITECTURES, tiny_image, tiny_inputs, tiny_vlm

# Every zoo architecture, none skipped: one without an image layout fails these tests (and tests/testing/test_zoo.py
# names it). The name is kept for the test modules that import it.
CAPTURED = ARCHITECTURES


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
    model, processor = tiny_vlm(name)
    image = tiny_image()
    inputs = dict(tiny_inputs(name, processor, images=[image]))
    with torch.inference_mode():
        generated = model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
    # generate ran under inference_mode; the oracles need ordinary tensors to build autograd graphs.
    return Case(name, model, processor, inputs, generated.clone(), image)


@pytest.fixture(params=ARCHITECTURES, scope="module")
def case(request: pytest.FixtureRequest) -> Case:
    return make_case(request.param)
