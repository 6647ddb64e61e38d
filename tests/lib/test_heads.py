"""lib.rank_localization_heads and HeadRanking: how often each head is selected over many maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.traces import random_trace
from vl_saliency_widget import Trace
from vl_saliency_widget.core.map import SaliencyMap
from vl_saliency_widget.lib import HeadRanking, rank_localization_heads


@pytest.fixture
def trace() -> Trace:
    return random_trace(seed=0)


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
