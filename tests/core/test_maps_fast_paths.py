"""Trace.maps' fast paths give what the per-token path gives: reductions before the gather, batched gradients."""

from __future__ import annotations

import pytest
import torch

from vl_saliency_widget import SaliencyExtractor
from vl_saliency_widget.core.trace import Trace
from vl_saliency_widget.layouts.canvas import is_plain
from vl_saliency_widget.selectors import AbsoluteIndex
from vl_saliency_widget.testing import tiny_image, tiny_inputs, tiny_vlm

# One plain layout, a coarse view spread over a fine one, tiles with a thumbnail, and cross-attention tiles.
LAYOUTS = ("gemma3", "llava_next", "smolvlm", "mllama")
REDUCTIONS = [("mean", "mean"), ("sum", None), (None, "mean"), ("max", "min"), (None, "max"), ("prod", "sum")]


def _trace(name: str, **options: object) -> Trace:
    model, processor = tiny_vlm(name)
    image = tiny_image(seed=4, size=(84, 56))
    extractor = SaliencyExtractor(model, processor, **options)  # type: ignore[arg-type]
    return extractor.capture(**tiny_inputs(name, processor, images=[image]), images=[image])


@pytest.fixture(scope="module", params=LAYOUTS)
def layout(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def trace(layout: str) -> Trace:
    return _trace(layout)


@pytest.fixture(scope="module")
def fresh(layout: str) -> Trace:
    """A second capture of the same layout, whose gradients only ``map`` computes: one token per backward pass,
    independent of what ``maps`` computed and cached on ``trace``."""
    return _trace(layout)


def _assert_gradients_close(got: torch.Tensor, expected: torch.Tensor, position: int) -> None:
    """Batched and one-at-a-time backward passes may sum in different orders: float32 gradients (magnitude <= 1)
    agree to a few ulps; rtol 1e-5 is ~80 ulps (as in test_batched_token_gradients_equal_one_backward_each)."""
    torch.testing.assert_close(
        got, expected, rtol=1e-5, atol=1e-8, msg=lambda message: f"position {position}: {message}"
    )


def test_the_layouts_cover_plain_grids_and_canvases(trace: Trace) -> None:
    assert is_plain(trace.image_layouts[0]) == (len(trace.image_layouts[0].views) == 1)


@pytest.mark.parametrize("view", [None, "main"])
def test_maps_of_many_tokens_attention_equals_each_map_exactly(trace: Trace, view: str | None) -> None:
    name = trace.image_layouts[0].views[0].name if view == "main" else None
    positions = trace.text_positions
    stacked = trace.maps(positions, "attn", view=name)
    for k, p in enumerate(positions):
        # exact: both gather the same stored attention, and a canvas spreads each cell's sources one after the
        # other elementwise, the same way for a stack of maps as for one (Canvas.apply)
        assert torch.equal(stacked[k], trace.map(AbsoluteIndex(p), "attn", view=name).tensor()), p


@pytest.mark.parametrize("view", [None, "main"])
def test_maps_of_many_tokens_gradients_equal_each_map_of_a_fresh_capture(
    trace: Trace, fresh: Trace, view: str | None
) -> None:
    name = trace.image_layouts[0].views[0].name if view == "main" else None
    positions = trace.text_positions
    stacked = trace.maps(positions, "grad", view=name)
    for k, p in enumerate(positions):
        expected = fresh.map(AbsoluteIndex(p), "grad", view=name).tensor()
        _assert_gradients_close(stacked[k], expected, p)


@pytest.mark.parametrize(("layer_reduce", "head_reduce"), REDUCTIONS)
def test_reduced_maps_equal_the_aggregate_of_each_map(trace: Trace, layer_reduce: str, head_reduce: str) -> None:
    positions = trace.text_positions
    for mode in ("attn", "grad"):
        reduced = trace.maps(positions, mode, layer_reduce=layer_reduce, head_reduce=head_reduce)  # type: ignore[arg-type]
        layers, heads = trace.maps(positions[:1], mode).shape[1:3]
        assert reduced.shape[1:3] == (1 if layer_reduce else layers, 1 if head_reduce else heads)
        for k, p in enumerate(positions):
            expected = trace.map(AbsoluteIndex(p), mode).agg(layer_reduce, head_reduce).tensor()  # type: ignore[arg-type]
            torch.testing.assert_close(reduced[k], expected, rtol=1e-5, atol=1e-7)


def test_reduced_maps_read_all_rows_or_gather_a_few_alike(trace: Trace) -> None:
    positions = trace.text_positions
    many = trace.maps(positions, "attn", layer_reduce="mean", head_reduce="mean")
    few = trace.maps(positions[-2:], "attn", layer_reduce="mean", head_reduce="mean")
    torch.testing.assert_close(few, many[-2:])


def test_a_reduction_name_is_checked() -> None:
    trace = _trace("gemma3", store_grads=False)
    with pytest.raises(ValueError, match="Unknown layer_reduce 'median'"):
        trace.maps(trace.text_positions, layer_reduce="median")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["gemma3", "smolvlm"])
def test_batched_token_gradients_equal_one_backward_each(name: str) -> None:
    trace = _trace(name)
    gradients = trace.data.token_gradients
    assert gradients is not None
    positions = trace.text_positions[-5:]
    batched = gradients.compute_many(positions)
    one_each = torch.stack([gradients.compute(p) for p in positions])
    assert batched.abs().max() > 0
    torch.testing.assert_close(batched, one_each, rtol=1e-5, atol=1e-8)


def test_maps_computes_missing_gradients_in_batches_of_batch_size() -> None:
    batched, one_each = _trace("llava_next"), _trace("llava_next")
    assert batched.data.token_gradients is not None and one_each.data.token_gradients is not None
    batched.data.token_gradients.batch_size = 4
    one_each.data.token_gradients.batch_size = 1
    passes: list[int] = []
    compute_many = batched.data.token_gradients.compute_many

    def counted(positions: list[int]) -> torch.Tensor:
        passes.append(len(positions))
        return compute_many(positions)

    batched.data.token_gradients.compute_many = counted  # type: ignore[method-assign]
    positions = batched.text_positions
    batched.map(AbsoluteIndex(positions[0]), "grad")  # one already computed: maps skips it
    torch.testing.assert_close(batched.maps(positions, "grad"), one_each.maps(positions, "grad"), rtol=1e-5, atol=1e-8)
    missing = len(positions) - 1
    assert passes == [1] + [4] * (missing // 4) + ([missing % 4] if missing % 4 else [])
    assert all(batched.grad_ready(p) for p in positions)


def test_the_cpu_computes_one_token_per_pass_unless_told() -> None:
    gradients = _trace("gemma3").data.token_gradients
    assert gradients is not None
    assert gradients.tokens_per_pass() == 1
    gradients.batch_size = 6
    assert gradients.tokens_per_pass() == 6


def test_a_batch_that_runs_out_of_memory_is_retried_with_half_the_tokens() -> None:
    trace = _trace("gemma3")
    gradients = trace.data.token_gradients
    assert gradients is not None
    gradients.batch_size = 8
    passes: list[int] = []
    compute_many = gradients.compute_many

    def small_memory(positions: list[int]) -> torch.Tensor:
        passes.append(len(positions))
        if len(positions) > 2:
            raise torch.OutOfMemoryError("out of memory (simulated)")
        return compute_many(positions)

    gradients.compute_many = small_memory  # type: ignore[method-assign]
    positions = trace.text_positions[-5:]
    grads = trace.maps(positions, "grad")
    assert passes == [5, 4, 2, 2, 1]
    fresh = _trace("gemma3")  # its gradients computed by map, one token per backward pass
    for k, p in enumerate(positions):
        _assert_gradients_close(grads[k], fresh.map(AbsoluteIndex(p), "grad").tensor(), p)


def test_reductions_a_row_at_a_time_give_the_same_maps(trace: Trace, monkeypatch: pytest.MonkeyPatch) -> None:
    positions = trace.text_positions
    calls = [(mode, ps, r) for mode in ("attn", "grad") for ps in (positions, positions[-2:]) for r in ("mean", "max")]
    whole = [trace.maps(ps, mode, layer_reduce=r, head_reduce=r) for mode, ps, r in calls]  # type: ignore[arg-type]
    monkeypatch.setattr("vl_saliency_widget.core.trace.REDUCE_CHUNK_BYTES", 1)
    for (mode, ps, r), expected in zip(calls, whole, strict=True):
        got = trace.maps(ps, mode, layer_reduce=r, head_reduce=r)  # type: ignore[arg-type]
        if r == "max":
            assert torch.equal(got, expected)  # exact: a max picks one of the values, in any order or chunk size
        else:
            # A mean of a few float32 values (magnitude <= 1) over tensors of another shape may sum in another order
            # on another CPU's kernels: a few ulps; the tolerance of test_reduced_maps_equal_the_aggregate_of_each_map.
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)


def test_no_positions_give_an_empty_stack_of_the_reduced_shape(trace: Trace) -> None:
    rows, cols = trace.map(AbsoluteIndex(trace.text_positions[0])).shape[2:]
    for mode in ("attn", "grad"):
        for reduction in ("mean", "max"):
            empty = trace.maps([], mode, layer_reduce=reduction, head_reduce=None)  # type: ignore[arg-type]
            assert empty.shape == (0, 1, trace.maps(trace.text_positions[:1], mode).shape[2], rows, cols)
