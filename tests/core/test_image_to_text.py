"""Image to text (core/image_to_text.py): how much each token looks at a region, and the cells every query sinks
into, each against a direct computation."""

from __future__ import annotations

import pytest
import torch

from tests.traces import COLS, ROWS, TEXT, make_trace, random_trace
from vl_saliency_widget import Trace
from vl_saliency_widget import transforms as T
from vl_saliency_widget.lib import gradcam
from vl_saliency_widget.selectors import AbsoluteIndex


@pytest.fixture
def trace() -> Trace:
    return random_trace(seed=0)


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
