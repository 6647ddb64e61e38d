"""T.MaskSinks: the sinks it is given are checked against the map it masks."""

from __future__ import annotations

import pytest
import torch

from tests.traces import COLS, ROWS, random_trace
from vl_saliency_widget import Trace
from vl_saliency_widget import transforms as T


@pytest.fixture
def trace() -> Trace:
    return random_trace(seed=0)


def test_mask_sinks_checks_what_it_is_given(trace: Trace) -> None:
    with pytest.raises(TypeError, match="boolean tensor"):
        T.MaskSinks(torch.zeros(ROWS, COLS))
    with pytest.raises(ValueError, match=r"grid \[2, 2\] is not the map's \[4, 6\]"):
        trace.map(0) >> T.MaskSinks(torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="The sinks cover 5 layers, the map 2"):
        trace.map(0) >> T.MaskSinks(torch.zeros(5, 3, ROWS, COLS, dtype=torch.bool))
