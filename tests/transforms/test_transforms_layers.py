"""Layer and head selection and aggregation."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from vl_saliency_widget import transforms as T
from vl_saliency_widget.core.map import SaliencyMap


@pytest.fixture
def source() -> torch.Tensor:
    # Value encodes its position: layer * 100 + head * 10 + a small spatial offset.
    layers = torch.arange(4.0).view(4, 1, 1, 1) * 100
    heads = torch.arange(3.0).view(1, 3, 1, 1) * 10
    cells = torch.arange(6.0).view(1, 1, 2, 3) / 10
    return layers + heads + cells


def test_select_layers_by_int_list_and_negative_index(source: torch.Tensor) -> None:
    m = SaliencyMap(source)
    # exact, here and below: selections only index, no arithmetic
    assert torch.equal((m >> T.SelectLayers(2)).map, source[2:3])
    assert torch.equal((m >> T.SelectLayers([3, 0])).map, source[[3, 0]])
    assert torch.equal((m >> T.SelectLayers(-1)).map, source[3:4])


def test_select_heads_stacks_pairs_on_the_head_axis(source: torch.Tensor) -> None:
    pairs = [(3, 1), (0, 2), (2, 0)]
    result = SaliencyMap(source) >> T.SelectHeads(pairs)
    assert result.shape == (1, 3, 2, 3)
    for i, (layer, head) in enumerate(pairs):
        assert torch.equal(result.map[0, i], source[layer, head])
    assert result.map[0, 0, 0, 0].item() == 310


def test_select_heads_accepts_a_single_pair(source: torch.Tensor) -> None:
    result = SaliencyMap(source) >> T.SelectHeads((1, 2))
    assert torch.equal(result.map, source[1, 2][None, None])


def test_first_and_last_n_layers(source: torch.Tensor) -> None:
    m = SaliencyMap(source)
    assert torch.equal((m >> T.FirstNLayers(2)).map, source[:2])
    assert torch.equal((m >> T.LastNLayers(3)).map, source[1:])
    assert torch.equal((m >> T.LastNLayers(4)).map, source)


@pytest.mark.parametrize(
    "transform",
    [T.SelectLayers(4), T.SelectLayers([0, -5]), T.SelectHeads((0, 3)), T.SelectHeads([(4, 0)]), T.LastNLayers(5)],
    ids=repr,
)
def test_out_of_range_indices_name_the_shape(source: torch.Tensor, transform: T.Transform) -> None:
    with pytest.raises(IndexError, match=r"\[4, 3, 2, 3\]"):
        SaliencyMap(source) >> transform


def test_invalid_construction_arguments() -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        T.FirstNLayers(0)
    with pytest.raises(ValueError, match="at least one"):
        T.SelectLayers([])
    with pytest.raises(ValueError, match="at least one"):
        T.SelectHeads([])
    with pytest.raises(ValueError, match="'median'"):
        T.Aggregate(head_reduce="median")  # type: ignore[arg-type]


REDUCTIONS: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    "mean": lambda t, d: t.sum(d, keepdim=True) / t.shape[d],
    "sum": lambda t, d: t.sum(d, keepdim=True),
    "max": lambda t, d: t.max(d, keepdim=True).values,
    "min": lambda t, d: t.min(d, keepdim=True).values,
    "prod": lambda t, d: t.prod(d, keepdim=True),
}


@pytest.mark.parametrize("layer_reduce", [*REDUCTIONS, None])
@pytest.mark.parametrize("head_reduce", [*REDUCTIONS, None])
def test_aggregate_reduces_layers_then_heads_keeping_dims(
    source: torch.Tensor, layer_reduce: T.Reduction | None, head_reduce: T.Reduction | None
) -> None:
    expected = source
    if layer_reduce is not None:
        expected = REDUCTIONS[layer_reduce](expected, 0)
    if head_reduce is not None:
        expected = REDUCTIONS[head_reduce](expected, 1)
    result = SaliencyMap(source) >> T.Aggregate(layer_reduce=layer_reduce, head_reduce=head_reduce)
    assert result.shape == (1 if layer_reduce else 4, 1 if head_reduce else 3, 2, 3)
    torch.testing.assert_close(result.map, expected)


def test_aggregate_max_picks_values_not_indices(source: torch.Tensor) -> None:
    result = SaliencyMap(source) >> T.Aggregate("max", "min")
    # exact: max and min pick stored values, and these are computed as the fixture computes them
    assert torch.equal(result.map, (300 + torch.arange(6.0) / 10).view(1, 1, 2, 3))
