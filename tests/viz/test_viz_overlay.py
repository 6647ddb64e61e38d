"""overlay draws a [1, 1, H, W] map, resized and scaled to [0, 1], over an image."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from vl_saliency_widget.core.map import SaliencyMap
from vl_saliency_widget.viz import overlay, show_figure


@pytest.fixture
def small() -> SaliencyMap:
    return SaliencyMap(torch.tensor([[0.0, 2.0], [4.0, 8.0]]).view(1, 1, 2, 2))


def test_overlay_resizes_bilinearly_to_the_image_and_scales_to_unit_range(small: SaliencyMap) -> None:
    image = Image.new("RGB", (4, 6), color=(10, 20, 30))  # width 4, height 6
    fig = overlay(small, image)
    base, heat = fig.axes[0].get_images()
    assert np.asarray(base.get_array()).shape == (6, 4, 3)
    values = np.asarray(heat.get_array())
    assert values.shape == (6, 4)
    assert values.min() == 0.0 and values.max() == 1.0
    np.testing.assert_allclose(values[0], [0.0, 0.0625, 0.1875, 0.25])  # 0, .5, 1.5, 2 out of 8
    assert heat.get_cmap().name == "inferno" and heat.get_alpha() == 0.5


def test_overlay_without_image_draws_the_map_opaque(small: SaliencyMap) -> None:
    fig = overlay(small, show_colorbar=False, title=None)
    (heat,) = fig.axes[0].get_images()
    np.testing.assert_allclose(np.asarray(heat.get_array()), [[0, 0.25], [0.5, 1.0]])
    assert heat.get_alpha() == 1.0
    assert len(fig.axes) == 1


def test_overlay_draws_grayscale_arrays_in_gray_and_passes_imshow_options(small: SaliencyMap) -> None:
    fig = overlay(small, np.zeros((3, 5)), cmap="magma", alpha=0.8, title="t")
    base, heat = fig.axes[0].get_images()
    assert base.get_cmap().name == "gray"
    assert heat.get_cmap().name == "magma" and heat.get_alpha() == 0.8
    assert fig.axes[0].get_title() == "t"
    assert len(fig.axes) == 2


def test_overlay_on_given_axes_returns_their_figure(small: SaliencyMap) -> None:
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert overlay(small, ax=right, show_colorbar=False) is fig
    assert len(right.get_images()) == 1 and len(left.get_images()) == 0
    sub = Figure().subfigures(1, 2)[0]
    assert overlay(small, ax=sub.add_subplot()) is sub.figure


def test_overlay_needs_a_single_map() -> None:
    with pytest.raises(ValueError, match=r"\[2, 1, 2, 2\].*\.agg\(\)"):
        overlay(SaliencyMap(torch.zeros(2, 1, 2, 2)))


def test_overlay_does_not_register_with_pyplot_and_show_releases(small: SaliencyMap) -> None:
    plt.close("all")
    fig = overlay(small)
    assert plt.get_fignums() == []
    show_figure(fig)
    assert plt.get_fignums() == []
    fig.savefig(__import__("io").BytesIO(), format="png")
