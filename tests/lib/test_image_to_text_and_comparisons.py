"""Image to text, sink masking, signed differences and head rankings, each against a direct computation."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from vl_saliency_widget import Trace
from vl_saliency_widget import transforms as T
from vl_saliency_widget.core.map import SaliencyMap
from vl_saliency_widget.core.record import TraceData
from vl_saliency_widget.core.regions import region_mask
from vl_saliency_widget.layouts.base import ImageLayout, View
from vl_saliency_widget.lib import HeadRanking, difference, gradcam, rank_localization_heads
from vl_saliency_widget.selectors import AbsoluteIndex
from vl_saliency_widget.testing import tiny_image

ROWS, COLS, TEXT = 4, 6, 8
IMAGE = 1


def make_trace(attn: torch.Tensor) -> Trace:
    """A trace of "<bos>", a 4 x 6 picture's tokens, then TEXT text tokens; ``attn`` [L, H, 1 + TEXT, 24]."""
    cells = ROWS * COLS
    picture = tiny_image(size=(COLS * 10, ROWS * 10))
    layout = ImageLayout(
        views=(View("base", torch.arange(1, 1 + cells).reshape(ROWS, COLS), (0.0, 0.0, 60.0, 40.0)),),
        size=picture.size,
    )
    return Trace(
        TraceData(
            token_ids=[2] + [IMAGE] * cells + list(range(3, 3 + TEXT)),
            gen_start=1 + cells + TEXT // 2,
            image_token_id=IMAGE,
            image_layouts=[layout],
            images=[picture],
            attn=attn,
            grad=attn - attn.mean(-1, keepdim=True),
            gradients="sequence",
        )
    )


@pytest.fixture
def trace() -> Trace:
    generator = torch.Generator().manual_seed(0)
    values = torch.rand(2, 3, 1 + TEXT, ROWS * COLS, generator=generator)
    return make_trace(values / values.sum(-1, keepdim=True))


def test_regions_cover_the_cells_they_name() -> None:
    cell = region_mask((1, 2), (ROWS, COLS), (60, 40))
    assert torch.nonzero(cell).tolist() == [[1, 2]]
    box = region_mask((12.0, 0.0, 28.0, 10.0), (ROWS, COLS), (60, 40))  # cells are 10 x 10 pixels
    assert torch.nonzero(box).tolist() == [[0, 1], [0, 2]]
    mask = torch.zeros(ROWS, COLS, dtype=torch.bool)
    mask[3, 5] = True
    assert torch.equal(region_mask(mask, (ROWS, COLS), (60, 40)), mask)
    with pytest.raises(ValueError, match=r"outside the map's grid of 4 x 6"):
        region_mask((4, 0), (ROWS, COLS), (60, 40))
    with pytest.raises(ValueError, match="is empty"):
        region_mask((10, 10, 5, 20), (ROWS, COLS), (60, 40))
    with pytest.raises(ValueError, match="covers no cell"):
        region_mask((100, 100, 120, 120), (ROWS, COLS), (60, 40))
    with pytest.raises(ValueError, match="boolean tensor of the map's grid 4 x 6"):
        region_mask(torch.ones(2, 2, dtype=torch.bool), (ROWS, COLS), (60, 40))
    with pytest.raises(TypeError, match="region must be a cell"):
        region_mask("top left", (ROWS, COLS), (60, 40))  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["attn", "grad", gradcam])
def test_tokens_for_a_region_sum_each_token_s_aggregated_map_over_it(trace: Trace, mode) -> None:  # type: ignore[no-untyped-def]
    box = (12.0, 0.0, 28.0, 10.0)
    scores = trace.tokens_for(box, mode=mode)
    assert scores.shape == (len(trace.token_ids),)
    for p in range(len(trace.token_ids)):
        if p not in trace.text_positions:
            assert torch.isnan(scores[p])
            continue
        expected = trace.map(AbsoluteIndex(p), mode).agg().tensor()[0, 0, 0, 1:3].sum()
        torch.testing.assert_close(scores[p], expected)
    own = trace.tokens_for((0, 1), align="token")
    assert not torch.isnan(own[0]) and torch.isnan(own[1])  # the first token has its own row


def test_sinks_are_the_cells_every_query_attends_to() -> None:
    generator = torch.Generator().manual_seed(1)
    values = torch.rand(2, 3, 1 + TEXT, ROWS * COLS, generator=generator)
    values[1, 2, :, 7] += 20.0  # layer 1, head 2: every query pours most of its attention on cell (1, 1)
    values[0, 0, 3, 5] += 20.0  # one query only: not a sink
    trace = make_trace(values / values.sum(-1, keepdim=True))
    sinks = trace.sinks()
    assert sinks.shape == (2, 3, ROWS, COLS)
    assert torch.nonzero(sinks).tolist() == [[1, 2, 1, 1]]
    masked = trace.map(2) >> T.MaskSinks(sinks)  # exact below: masking keeps the other values as they are
    assert masked.tensor()[1, 2, 1, 1] == 0 and torch.equal(masked.tensor()[0], trace.map(2).tensor()[0])
    aggregated = trace.map(2).agg() >> T.MaskSinks(sinks)  # any layer/head's sink is masked on an aggregate
    assert aggregated.tensor()[0, 0, 1, 1] == 0


def test_mask_sinks_checks_what_it_is_given(trace: Trace) -> None:
    with pytest.raises(TypeError, match="boolean tensor"):
        T.MaskSinks(torch.zeros(ROWS, COLS))
    with pytest.raises(ValueError, match=r"grid \[2, 2\] is not the map's \[4, 6\]"):
        trace.map(0) >> T.MaskSinks(torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="The sinks cover 5 layers, the map 2"):
        trace.map(0) >> T.MaskSinks(torch.zeros(5, 3, ROWS, COLS, dtype=torch.bool))


def test_difference_compares_unit_mass_maps_and_plots_diverging(trace: Trace) -> None:
    a, b = trace.map(0).agg(), trace.map(1).agg()
    signed = difference(a, b)
    x, y = a.tensor(), b.tensor()
    torch.testing.assert_close(signed.tensor(), x / x.abs().sum() - y / y.abs().sum())
    assert signed.tensor().min() < 0 < signed.tensor().max()
    torch.testing.assert_close(difference(a, a * 7.0).tensor(), torch.zeros_like(x))
    figure = signed.plot(show=False)
    image = figure.axes[0].images[0]
    assert image.get_cmap().name == "RdBu_r" and image.get_clim() == (-1.0, 1.0)
    with pytest.raises(ValueError, match="aggregate both the same way"):
        difference(trace.map(0), b)


def test_head_ranking_counts_how_often_each_head_is_selected() -> None:
    class Picks:
        """A selector picking head (layer, head) given by the map's first value."""

        def rank(self, saliency_map: SaliencyMap) -> list[tuple[int, int]]:
            code = int(saliency_map.tensor()[0, 0, 0, 0])
            return [(code // 10, code % 10), (2, 0)]

    maps = [SaliencyMap(torch.full((3, 2, 2, 2), float(code))) for code in (1, 1, 21, 1)]
    ranking = rank_localization_heads(maps, selector=Picks())  # type: ignore[arg-type]
    assert isinstance(ranking, HeadRanking) and ranking.samples == 4
    assert ranking.top(2) == [(2, 0), (0, 1)]
    assert ranking.counts == {(0, 1): 3, (2, 0): 4, (2, 1): 1}
    frequencies = ranking.frequencies()
    assert frequencies.shape == (3, 2) and frequencies[0, 1] == 0.75
    selected = SaliencyMap(torch.arange(12.0).reshape(3, 2, 2, 1)) >> ranking.select(2)
    assert selected.shape == (1, 2, 2, 1)
    with pytest.raises(ValueError, match="at least one map"):
        rank_localization_heads([])
    with pytest.raises(ValueError, match="rank maps of one model"):
        rank_localization_heads([maps[0], SaliencyMap(torch.zeros(2, 2, 2, 2))], selector=Picks())  # type: ignore[arg-type]


def test_head_ranking_with_the_default_selector_runs_on_real_attention(trace: Trace) -> None:
    ranking = rank_localization_heads(trace.map(t) for t in range(trace.total_generated_tokens))
    assert ranking.samples == trace.total_generated_tokens
    assert sum(ranking.counts.values()) >= ranking.samples  # min_keep=1: at least one head per map
    assert np.isclose(float(ranking.frequencies().sum()), sum(ranking.counts.values()) / ranking.samples)
