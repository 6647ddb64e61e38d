"""Properties every transform and pipeline keeps, on maps of every dtype and magnitude (hypothesis).

Each transform's docstring gives its shape rule; these tests hold every transform to it, and to three more
promises: the input is never changed, finite maps give finite results wherever the exact result fits the dtype
(never NaN), and ``m >> a >> b`` is ``b(a(m))``.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vl_saliency_widget import SaliencyMap
from vl_saliency_widget import transforms as T
from vl_saliency_widget.transforms import Pipeline, Transform

from .strategies import EVERY_TRANSFORM, ShapeRule, any_shape_transforms, maps

EXAMPLES = settings(max_examples=60)


def _fits(reference: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Where the exact (float64) result is representable in ``dtype``."""
    return reference.abs() <= torch.finfo(dtype).max


@EXAMPLES
@given(maps(), any_shape_transforms())
def test_a_transform_leaves_its_input_alone_and_follows_its_shape_rule(
    source: torch.Tensor, drawn: tuple[Transform, ShapeRule]
) -> None:
    transform, rule = drawn
    before = source.clone()
    saliency_map = SaliencyMap(source)
    stored = saliency_map.tensor()
    result = saliency_map >> transform
    assert torch.equal(source, before)  # exact, and the next: the input is never written
    assert torch.equal(saliency_map.tensor(), stored)
    assert isinstance(result, SaliencyMap) and result is not saliency_map
    assert tuple(result.shape) == rule(tuple(source.shape))
    assert result.tensor().dtype == source.dtype


@pytest.mark.parametrize("transform", EVERY_TRANSFORM, ids=repr)
@settings(max_examples=15)
@given(source=maps(kinds=("huge", "extremes", "tiny", "constant")))
def test_finite_maps_give_finite_results_where_the_exact_result_fits(
    transform: Transform, source: torch.Tensor
) -> None:
    result = (SaliencyMap(source) >> transform).tensor()
    exact = (SaliencyMap(source.to(torch.float64)) >> transform).tensor()
    assert not result.isnan().any(), f"{transform!r} made NaN from a finite {source.dtype} map"
    fits = _fits(exact, source.dtype)
    assert torch.isfinite(result[fits]).all(), f"{transform!r} overflowed where the exact result fits"


@EXAMPLES
@given(maps())
def test_normalize_scales_any_finite_map_into_zero_one(source: torch.Tensor) -> None:
    result = T.normalize(SaliencyMap(source)).tensor()
    assert torch.isfinite(result).all()
    assert result.min() >= 0 and result.max() <= 1
    if (source == source.flatten()[0]).all():
        assert (result == 0).all(), "a constant map has no range and must become zeros"
    else:
        assert result.max() == 1 and result.min() == 0
    assert torch.equal((SaliencyMap(source) >> T.Normalize()).tensor(), result)  # exact: the same function re-run


@EXAMPLES
@given(maps(), st.lists(any_shape_transforms(), min_size=1, max_size=4))
def test_a_pipeline_equals_its_steps_applied_in_turn(
    source: torch.Tensor, drawn: list[tuple[Transform, ShapeRule]]
) -> None:
    steps = [transform for transform, _ in drawn]
    saliency_map = SaliencyMap(source)
    expected = saliency_map
    for step in steps:
        expected = step(expected)
    chained = saliency_map
    for step in steps:
        chained = chained >> step
    composed: Transform = steps[0]
    for step in steps[1:]:
        composed = composed >> step  # type: ignore[operator]
    # exact: the same steps on the same input in the same order, whatever chains them
    assert torch.equal(chained.tensor(), expected.tensor())
    assert torch.equal((saliency_map >> composed).tensor(), expected.tensor())
    assert torch.equal(Pipeline(*steps)(saliency_map).tensor(), expected.tensor())
    assert torch.equal(saliency_map.apply(Pipeline(Pipeline(*steps[:1]), *steps[1:])).tensor(), expected.tensor())
    assert torch.equal(saliency_map.tensor(), source)


@EXAMPLES
@given(maps(), st.data())
def test_layer_and_head_selection_follow_their_shape_rules(source: torch.Tensor, data: st.DataObject) -> None:
    layers, heads = source.shape[:2]
    saliency_map = SaliencyMap(source)
    picked = data.draw(st.lists(st.integers(-layers, layers - 1), min_size=1, max_size=4))
    # exact, here and below: selections only index, no arithmetic
    assert torch.equal((saliency_map >> T.SelectLayers(picked)).tensor(), source[picked])
    pairs = data.draw(
        st.lists(st.tuples(st.integers(-layers, layers - 1), st.integers(-heads, heads - 1)), min_size=1, max_size=4)
    )
    selected = (saliency_map >> T.SelectHeads(pairs)).tensor()
    assert selected.shape == (1, len(pairs), *source.shape[2:])
    for i, (layer, head) in enumerate(pairs):
        assert torch.equal(selected[0, i], source[layer, head])
    n = data.draw(st.integers(1, layers))
    assert torch.equal((saliency_map >> T.FirstNLayers(n)).tensor(), source[:n])
    assert torch.equal((saliency_map >> T.LastNLayers(n)).tensor(), source[layers - n :])
    with pytest.raises(IndexError, match=r"shape|layers"):
        saliency_map >> T.SelectLayers(layers)
    with pytest.raises(IndexError, match="layers"):
        saliency_map >> T.LastNLayers(layers + 1)


@EXAMPLES
@given(maps(), st.sampled_from([None, "mean", "sum", "max", "min"]), st.sampled_from([None, "mean", "sum", "max"]))
def test_agg_is_aggregate_and_reduces_the_way_torch_does(
    source: torch.Tensor, layer_reduce: T.Reduction | None, head_reduce: T.Reduction | None
) -> None:
    """Exact up to rounding: the result's own, and float32 accumulation's (cancelling huge values loses tiny ones)."""
    saliency_map = SaliencyMap(source)
    result = saliency_map.agg(layer_reduce, head_reduce)
    # exact: agg applies this Aggregate
    assert torch.equal(result.tensor(), (saliency_map >> T.Aggregate(layer_reduce, head_reduce)).tensor())
    exact = source.to(torch.float64)
    for reduce, dim in ((layer_reduce, 0), (head_reduce, 1)):
        if reduce is not None:
            exact = getattr(exact, {"max": "amax", "min": "amin"}.get(reduce, reduce))(dim=dim, keepdim=True)
    fits = _fits(exact, source.dtype)
    accumulation = source.numel() * float(source.abs().max()) * torch.finfo(torch.float32).eps
    torch.testing.assert_close(
        result.tensor().to(torch.float64)[fits],
        exact[fits],
        rtol=2 * torch.finfo(source.dtype).eps,
        atol=accumulation + torch.finfo(source.dtype).smallest_normal,
    )


@settings(max_examples=30)
@given(maps(max_side=4, max_cells=6), st.booleans(), st.integers(0, 2), st.integers(1, 5))
def test_localization_heads_keep_whole_heads_in_rank_order(
    source: torch.Tensor, chord: bool, min_keep: int, max_keep: int
) -> None:
    saliency_map = SaliencyMap(source)
    transform = T.LocalizationHeads(chord_thresholding=chord, min_keep=min_keep, max_keep=max(max_keep, min_keep, 1))
    heads = transform.rank(saliency_map)
    if not heads:
        with pytest.raises(ValueError, match="No localization head"):
            saliency_map >> transform
        return
    result = (saliency_map >> transform).tensor()
    assert result.shape == (1, len(heads), *source.shape[2:])
    assert len(heads) <= transform.max_keep  # type: ignore[operator]
    assert len(set(heads)) == len(heads)
    for i, (layer, head) in enumerate(heads):
        assert torch.equal(result[0, i], source[layer, head])  # exact: kept heads are indexed
