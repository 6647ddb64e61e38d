"""A capture leaves the model exactly as it found it."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.cases import Case, make_case
from vl_saliency_widget import SaliencyExtractor


def snapshot(model: Any) -> dict[str, Any]:
    """Everything a capture could disturb."""
    # A sub-config may be absent (Gemma 4 without its audio tower).
    configs = [model.config, *(c for k in model.config.sub_configs if (c := getattr(model.config, k)) is not None)]
    return {
        "attn": [c._attn_implementation for c in configs],
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grad": [p.grad for p in model.parameters()],
        "hooks": [len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules()],
        "state": {k: v.clone() for k, v in model.state_dict().items()},
    }


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    for key in ("attn", "training", "requires_grad", "hooks"):
        assert before[key] == after[key], key
    assert all(g is None for g in after["grad"])
    assert before["state"].keys() == after["state"].keys()
    for name, tensor in before["state"].items():
        assert torch.equal(tensor, after["state"][name]), name  # exact: the weights must not be written at all


@pytest.mark.parametrize("gradients", ["token", "sequence"])
def test_capture_leaves_model_untouched(case: Case, gradients: str) -> None:
    before = snapshot(case.model)
    trace = SaliencyExtractor(case.model, case.processor, gradients=gradients).capture(  # type: ignore[arg-type]
        **case.inputs, generated_ids=case.generated, images=[case.image]
    )
    trace.map(0, "grad")
    assert_same(before, snapshot(case.model))


def test_training_mode_and_frozen_parameters_are_restored() -> None:
    case = make_case("llava", new_tokens=2)
    case.model.train()
    case.model.model.vision_tower.eval()
    frozen = next(case.model.model.vision_tower.parameters())
    frozen.requires_grad_(False)
    before = snapshot(case.model)
    trace = SaliencyExtractor(case.model, case.processor).capture(
        **case.inputs, generated_ids=case.generated, images=[case.image]
    )
    trace.map(0, "grad")
    assert_same(before, snapshot(case.model))


def test_capture_runs_without_dropout() -> None:
    """The gradients are taken in eval mode: two captures of a model in train mode with dropout agree."""
    case = make_case("qwen2_vl", new_tokens=2)
    attention = [m for m in case.model.modules() if hasattr(m, "attention_dropout")]
    assert attention
    for m in attention:
        m.attention_dropout = 0.5
    case.model.train()
    extractor = SaliencyExtractor(case.model, case.processor)
    first = extractor.capture(**case.inputs, generated_ids=case.generated, images=[case.image])
    second = extractor.capture(**case.inputs, generated_ids=case.generated, images=[case.image])
    # exact: the same capture re-run on the same input and machine (dropout would change it)
    assert torch.equal(first.map(1, "attn").tensor(), second.map(1, "attn").tensor())
    assert torch.equal(first.map(1, "grad").tensor(), second.map(1, "grad").tensor())
    assert case.model.training
