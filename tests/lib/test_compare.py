"""lib.difference: the signed difference of two maps, each scaled to unit mass, plotted on a diverging scale."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from tests.traces import random_trace
from vl_saliency_widget import Trace
from vl_saliency_widget.lib import difference


@pytest.fixture
def trace() -> Trace:
    return random_trace(seed=0)


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
