"""Spatial transforms: Binarize, GaussianSmoothing (against independent oracles), Upscale."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vl_saliency_widget import transforms as T
from vl_saliency_widget.core.map import SaliencyMap


def test_binarize_at_the_mean_and_at_a_value_inclusive() -> None:
    t = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).view(1, 1, 2, 3)  # mean 2.5
    assert (SaliencyMap(t) >> T.Binarize()).map.flatten().tolist() == [0, 0, 0, 1, 1, 1]
    assert (SaliencyMap(t) >> T.Binarize(threshold=2.0)).map.flatten().tolist() == [0, 0, 1, 1, 1, 1]


def test_binarize_rejects_unknown_threshold_names() -> None:
    with pytest.raises(ValueError, match="'median'"):
        T.Binarize("median")  # type: ignore[arg-type]


def numpy_gaussian_oracle(image: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Direct 2D convolution with an outer-product Gaussian over a numpy "symmetric" padding (edge repeated)."""
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    g = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel = np.outer(g, g) / np.outer(g, g).sum()
    padded = np.pad(image, radius, mode="symmetric")
    out = np.zeros_like(image, dtype=np.float64)
    for di in range(2 * radius + 1):
        for dj in range(2 * radius + 1):
            out += kernel[di, dj] * padded[di : di + image.shape[0], dj : dj + image.shape[1]]
    return out


@pytest.mark.parametrize(("sigma", "shape"), [(1.0, (7, 9)), (0.6, (5, 5)), (2.5, (6, 11)), (1.3, (3, 4))])
def test_gaussian_smoothing_matches_a_direct_convolution(sigma: float, shape: tuple[int, int]) -> None:
    t = torch.rand(2, 3, *shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    result = SaliencyMap(t) >> T.GaussianSmoothing(sigma=sigma)
    assert result.shape == t.shape and result.map.dtype == torch.float64
    for layer in range(2):
        for head in range(3):
            expected = numpy_gaussian_oracle(t[layer, head].numpy(), sigma)
            np.testing.assert_allclose(result.numpy()[layer, head], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("sigma", "shape"), [(1.0, (16, 16)), (2.0, (5, 12)), (3.7, (4, 4))])
def test_gaussian_smoothing_matches_scipy(sigma: float, shape: tuple[int, int]) -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    t = torch.rand(1, 2, *shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    result = SaliencyMap(t) >> T.GaussianSmoothing(sigma)
    for head in range(2):
        expected = ndimage.gaussian_filter(t[0, head].numpy(), sigma=sigma)
        np.testing.assert_allclose(result.numpy()[0, head], expected, rtol=1e-10, atol=1e-12)


def test_gaussian_smoothing_keeps_mass_and_dtype_and_spreads_a_point() -> None:
    t = torch.zeros(1, 1, 9, 9)
    t[0, 0, 4, 4] = 1.0
    result = SaliencyMap(t) >> T.GaussianSmoothing(sigma=1.0)
    assert result.map.dtype == torch.float32
    assert math.isclose(result.map.sum().item(), 1.0, rel_tol=1e-6)
    centre_row = result.map[0, 0, 4]
    # exact: from a point, each cell is one product of the symmetric kernel's weights plus exact zeros
    assert centre_row.argmax().item() == 4 and torch.equal(centre_row, centre_row.flip(0))


def test_gaussian_smoothing_with_zero_sigma_is_identity_and_negative_is_refused() -> None:
    t = torch.rand(1, 1, 4, 4)
    assert (SaliencyMap(t) >> T.GaussianSmoothing(0.0)) == SaliencyMap(t)
    with pytest.raises(ValueError, match="sigma"):
        T.GaussianSmoothing(-1.0)


def test_upscale_bilinear_uses_pixel_centres() -> None:
    t = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).view(1, 1, 2, 2)
    result = SaliencyMap(t) >> T.Upscale(4, 4)
    assert result.shape == (1, 1, 4, 4)
    assert result.map[0, 0, 0].tolist() == [0.0, 0.25, 0.75, 1.0]
    assert result.map[0, 0, :, 0].tolist() == [0.0, 0.5, 1.5, 2.0]


def test_upscale_takes_height_then_width_and_any_layers_and_heads() -> None:
    result = SaliencyMap(torch.rand(3, 2, 4, 5)) >> T.Upscale(height=8, width=15)
    assert result.shape == (3, 2, 8, 15)


def test_upscale_nearest_repeats_cells() -> None:
    t = torch.tensor([[1.0, 2.0]]).view(1, 1, 1, 2)
    result = SaliencyMap(t) >> T.Upscale(2, 4, mode="nearest")
    assert result.map[0, 0].tolist() == [[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]


def test_upscale_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="'linear'"):
        T.Upscale(4, 4, mode="linear")
    with pytest.raises(ValueError, match="positive"):
        T.Upscale(0, 4)
