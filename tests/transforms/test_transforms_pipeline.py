"""Composition: chainable functions, Chainable subclasses, Pipeline, protocols."""

from __future__ import annotations

import pytest
import torch

from vl_saliency_widget import transforms as T
from vl_saliency_widget.core.map import SaliencyMap
from vl_saliency_widget.lib import gradcam


@pytest.fixture
def m() -> SaliencyMap:
    return SaliencyMap(torch.arange(8.0).reshape(1, 2, 2, 2))


@T.chainable
def scale(any_name_at_all: SaliencyMap, factor: float = 2.0) -> SaliencyMap:
    """Multiply by ``factor``."""
    return any_name_at_all * factor


@T.chainable
def shift(saliency_map: SaliencyMap, by: float) -> SaliencyMap:
    return saliency_map + by


def test_chainable_passes_the_map_positionally_whatever_its_name(m: SaliencyMap) -> None:
    torch.testing.assert_close(scale(m).map, m.map * 2)
    torch.testing.assert_close((m >> scale()).map, m.map * 2)


def test_chainable_passes_extra_arguments_eagerly_and_lazily(m: SaliencyMap) -> None:
    torch.testing.assert_close(scale(m, factor=3).map, m.map * 3)
    torch.testing.assert_close((m >> scale(factor=3)).map, m.map * 3)
    torch.testing.assert_close((m >> scale(0.5)).map, m.map * 0.5)
    torch.testing.assert_close(shift(m, 1.0).map, m.map + 1)


def test_chainable_keeps_the_function_identity() -> None:
    assert scale.__name__ == "scale"
    assert scale.__doc__ == "Multiply by ``factor``."
    assert repr(scale(factor=3)) == "Pipeline(scale)"
    assert repr(scale(factor=3).transforms[0]) == "scale(factor=3)"


def test_an_undecorated_chainable_function_can_be_applied_directly(m: SaliencyMap) -> None:
    torch.testing.assert_close((m >> scale).map, m.map * 2)


def test_pipeline_applies_steps_in_order(m: SaliencyMap) -> None:
    first_shift = shift(by=1.0) >> scale(factor=10)
    first_scale = scale(factor=10) >> shift(by=1.0)
    torch.testing.assert_close((m >> first_shift).map, (m.map + 1) * 10)
    torch.testing.assert_close((m >> first_scale).map, m.map * 10 + 1)


def test_rshift_flattens_pipelines_and_constructor_too() -> None:
    a, b = T.abs() >> T.relu(), T.sigmoid() >> T.normalize()
    combined = a >> b
    assert len(combined) == 4
    assert repr(combined) == "Pipeline(abs, relu, sigmoid, normalize)"
    assert len(T.Pipeline(a, T.Binarize(), b)) == 5
    assert len(a) == 2  # the operands are unchanged


def test_append_adds_steps_in_place(m: SaliencyMap) -> None:
    pipe = T.Pipeline(shift(by=1.0))
    pipe.append(scale(factor=2) >> T.Aggregate(None, "sum"))
    assert repr(pipe) == "Pipeline(shift, scale, Aggregate)"
    torch.testing.assert_close((m >> pipe).map, ((m.map + 1) * 2).sum(dim=1, keepdim=True))


def test_pipeline_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="got int"):
        T.Pipeline(T.abs(), 3)  # type: ignore[arg-type]


def test_pipeline_step_returning_the_wrong_type_is_named(m: SaliencyMap) -> None:
    def leaky(saliency_map: SaliencyMap) -> torch.Tensor:
        return saliency_map.map

    with pytest.raises(TypeError, match="'leaky' returned Tensor"):
        m >> (T.abs() >> leaky)  # type: ignore[operator]


def test_pipelines_are_reusable_and_leave_inputs_alone(m: SaliencyMap) -> None:
    pipe = T.Pipeline(T.abs(), T.normalize(), T.Aggregate(layer_reduce="mean", head_reduce="sum"))
    before = m.tensor()
    first, second = m >> pipe, SaliencyMap(before * 2) >> pipe
    assert first.shape == second.shape == (1, 1, 2, 2)
    assert torch.equal(m.map, before)  # exact: the input is never written


def test_chainable_subclass_composes_and_must_implement_call(m: SaliencyMap) -> None:
    class AddOne(T.Chainable):
        def __call__(self, saliency_map: SaliencyMap) -> SaliencyMap:
            return saliency_map + 1

    class Incomplete(T.Chainable):
        pass

    pipe = AddOne() >> AddOne()
    assert isinstance(pipe, T.Pipeline)
    assert repr(pipe) == "Pipeline(AddOne, AddOne)"
    torch.testing.assert_close((m >> pipe).map, m.map + 2)
    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]


def test_protocols_are_runtime_checkable() -> None:
    assert isinstance(T.normalize(), T.Transform)
    assert isinstance(T.Aggregate(), T.Transform)
    assert isinstance(gradcam, T.TraceTransform)
    assert not isinstance(3, T.Transform)
