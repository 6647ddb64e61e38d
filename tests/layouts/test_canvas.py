"""Maps over the whole original picture: views stitched and spread so that sums are kept."""

from __future__ import annotations

import pytest
import torch

from vl_saliency_widget import SaliencyExtractor
from vl_saliency_widget.layouts import ImageLayout, View
from vl_saliency_widget.layouts.canvas import RUNS_AS_SLICES, Canvas, canvas
from vl_saliency_widget.testing import ARCHITECTURES, tiny_image, tiny_inputs, tiny_vlm


def test_coarse_view_spreads_evenly_over_the_fine_cells_it_covers() -> None:
    fine = View("fine", torch.arange(16).reshape(4, 4), (0.0, 0.0, 40.0, 40.0))
    coarse = View("global", torch.arange(16, 20).reshape(2, 2), (0.0, 0.0, 40.0, 40.0))
    grid = canvas(ImageLayout(views=(fine, coarse), size=(40, 40)))
    assert (grid.rows, grid.cols) == (4, 4)
    values = torch.zeros(20)
    values[17] = 8.0  # the coarse top-right cell
    out = grid.apply(values)
    expected = torch.zeros(4, 4)
    expected[:2, 2:] = 2.0
    torch.testing.assert_close(out, expected)
    values = torch.arange(20, dtype=torch.float32)
    torch.testing.assert_close(grid.apply(values)[:, :].sum(), values.sum())


def test_a_cropped_view_leaves_the_rest_of_the_picture_empty() -> None:
    view = View("base", torch.arange(4).reshape(2, 2), (20.0, 0.0, 60.0, 40.0))
    grid = canvas(ImageLayout(views=(view,), size=(80, 40)))
    assert (grid.rows, grid.cols) == (2, 4)
    out = grid.apply(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    torch.testing.assert_close(out, torch.tensor([[0.0, 1.0, 2.0, 0.0], [0.0, 3.0, 4.0, 0.0]]))


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_whole_picture_map_totals_the_attention_paid_to_the_image(name: str) -> None:
    model, processor = tiny_vlm(name)
    image = tiny_image(seed=4, size=(84, 56))
    trace = SaliencyExtractor(model, processor, store_grads=False).capture(
        **tiny_inputs(name, processor, images=[image]), images=[image]
    )
    layout = trace.image_layouts[0]
    assert trace.attn is not None
    cols = trace.columns.tolist()
    # Cells on the picture (Mllama pads its tile canvas; padding cells are not on the picture).
    on_picture = canvas(layout).weights.sum(dim=1) > 0
    cells = [cols.index(p) for p, on in zip(layout.positions.tolist(), on_picture.tolist(), strict=True) if on]
    last = trace.total_generated_tokens - 1
    whole = trace.map(last, align="token").tensor()
    torch.testing.assert_close(whole.sum(dim=(-1, -2)), trace.attn[:, :, -1][:, :, cells].sum(dim=-1))
    # The grid covers the original picture: boxes are in its pixels, whatever the processor's frame.
    assert layout.size == image.size


def test_take_reads_runs_of_columns_as_the_gather_would() -> None:
    fine = View("fine", torch.tensor([[3, 4], [9, 10]]), (0.0, 0.0, 20.0, 20.0))
    coarse = View("global", torch.tensor([[0]]), (0.0, 0.0, 20.0, 20.0))
    values = torch.rand(2, 3, 12)
    for layout in (ImageLayout(views=(fine,), size=(20, 20)), ImageLayout(views=(fine, coarse), size=(20, 20))):
        grid = canvas(layout)
        torch.testing.assert_close(grid.take(values), grid.apply(values[..., grid.positions]))
        assert grid.weights is not None
        dense = (values[..., grid.positions] @ grid.weights).reshape(2, 3, grid.rows, grid.cols)
        torch.testing.assert_close(grid.apply(values[..., grid.positions]), dense)
    own = Canvas.of_view(fine)
    # exact: a view's own grid has no weights, so take only slices and reshapes
    assert torch.equal(own.take(values), values[..., fine.positions.reshape(-1)].reshape(2, 3, 2, 2))


def test_take_of_scattered_columns_past_the_slice_limit() -> None:
    positions = torch.arange(0, 2 * (RUNS_AS_SLICES + 1), 2)
    grid = Canvas(rows=1, cols=positions.numel(), positions=positions, weights=None)
    values = torch.rand(3, 2 * positions.numel())
    # exact: no weights, take is a gather
    assert torch.equal(grid.take(values), values[:, positions].reshape(3, 1, -1))
    one_run = Canvas(rows=2, cols=2, positions=torch.arange(5, 9), weights=None)
    assert one_run.take(values)._base is values  # a view, no copy
