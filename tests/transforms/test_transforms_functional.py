"""Elementwise transforms: abs, relu, sigmoid, normalize, in eager, lazy and class form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vl_saliency_widget import transforms as T
from vl_saliency_widget.core.map import SaliencyMap


@pytest.fixture
def signed() -> torch.Tensor:
    return torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(1)) * 3


def test_normalize_matches_the_min_max_formula_over_the_whole_map(signed: torch.Tensor) -> None:
    x = signed.numpy().astype(np.float64)
    expected = (x - x.min()) / (x.max() - x.min())
    result = T.normalize(SaliencyMap(signed))
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6, atol=1e-6)
    assert result.map.min() == 0 and result.map.max() == 1


def test_normalize_of_a_constant_map_is_zeros_not_nan() -> None:
    result = T.normalize(SaliencyMap(torch.full((1, 2, 3, 3), 7.0)))
    assert torch.equal(result.map, torch.zeros(1, 2, 3, 3))  # exact: a constant map becomes zeros, no quotient


@pytest.mark.parametrize(
    ("lazy", "eager", "cls", "reference"),
    [
        (T.abs, T.abs, T.Abs, np.abs),
        (T.relu, T.relu, T.ReLU, lambda x: np.maximum(x, 0)),
        (T.sigmoid, T.sigmoid, T.Sigmoid, lambda x: 1 / (1 + np.exp(-x))),
        (T.normalize, T.normalize, T.Normalize, lambda x: (x - x.min()) / (x.max() - x.min())),
    ],
    ids=["abs", "relu", "sigmoid", "normalize"],
)
def test_eager_lazy_and_class_forms_agree_with_numpy(signed, lazy, eager, cls, reference) -> None:  # type: ignore[no-untyped-def]
    m = SaliencyMap(signed)
    expected = reference(signed.numpy().astype(np.float64))
    pipeline = lazy()
    assert isinstance(pipeline, T.Pipeline)
    for result in (eager(m), m >> pipeline, m >> cls(), m.apply(cls())):
        assert isinstance(result, SaliencyMap)
        np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6, atol=1e-6)
    assert torch.equal(m.map, signed)  # exact: the input is never written


def test_sigmoid_class_chains_as_in_the_readme(signed: torch.Tensor) -> None:
    m = SaliencyMap(signed)
    result = m >> T.Sigmoid() >> T.Aggregate(layer_reduce="mean", head_reduce="mean")
    torch.testing.assert_close(result.map, torch.sigmoid(signed).mean(dim=(0, 1), keepdim=True))


def test_class_forms_compose_into_pipelines(signed: torch.Tensor) -> None:
    pipe = T.Abs() >> T.Normalize()
    assert isinstance(pipe, T.Pipeline) and len(pipe) == 2
    x = np.abs(signed.numpy())
    np.testing.assert_allclose((SaliencyMap(signed) >> pipe).numpy(), (x - x.min()) / (x.max() - x.min()), atol=1e-6)
