"""Transforms over the spatial [H, W] axes, applied to every (layer, head) slice of a map."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from ..core.map import SaliencyMap
from .pipe import Chainable


class Binarize(Chainable):
    """1.0 where ``x >= threshold``, else 0.0. [L, H, h, w] -> [L, H, h, w].

    Args:
        threshold: a value, or "mean" for the mean over the whole map (accumulated in float64, so that a
            float32 map near its largest value does not overflow).
    """

    def __init__(self, threshold: float | Literal["mean"] = "mean") -> None:
        if isinstance(threshold, str) and threshold != "mean":
            raise ValueError(f"Binarize threshold must be a number or 'mean', got {threshold!r}.")
        self.threshold = threshold

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        t = saliency_map._map
        threshold = t.mean(dtype=torch.float64).item() if self.threshold == "mean" else self.threshold
        return SaliencyMap((t >= threshold).to(t.dtype))

    def __repr__(self) -> str:
        return f"Binarize(threshold={self.threshold!r})"


def _reflect_indices(size: int, radius: int) -> torch.Tensor:
    """Source index for each position in ``range(-radius, size + radius)`` under half-sample reflection.

    The extension mirrors about the edge with the edge value repeated (d c b a | a b c d | d c b a), which is
    scipy.ndimage's "reflect" mode; positions further out repeat with period ``2 * size``.
    """
    positions = torch.arange(-radius, size + radius) % (2 * size)
    return torch.where(positions >= size, 2 * size - 1 - positions, positions)


def _gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """Normalised 1D Gaussian weights (float64), ``2 * radius + 1`` taps, ``radius = int(truncate * sigma + 0.5)``."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-0.5 * (x / sigma) ** 2) if sigma > 0 else (x == 0).to(torch.float64)
    return weights / weights.sum()


class GaussianSmoothing(Chainable):
    """Gaussian blur of every [H, W] slice: [L, H, h, w] -> [L, H, h, w].

    A separable kernel truncated at ``truncate`` standard deviations, with the borders extended by
    half-sample reflection; this matches ``scipy.ndimage.gaussian_filter(x, sigma)`` on each slice.

    Args:
        sigma: standard deviation in patches (0 leaves the map unchanged).
        truncate: kernel radius in standard deviations.
    """

    def __init__(self, sigma: float = 1.0, truncate: float = 4.0) -> None:
        if not (math.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"GaussianSmoothing needs a finite sigma >= 0, got {sigma}.")
        if not (math.isfinite(truncate) and truncate >= 0):
            raise ValueError(f"GaussianSmoothing needs a finite truncate >= 0, got {truncate}.")
        self.sigma = sigma
        self.truncate = truncate

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        t = saliency_map._map
        layers, heads, height, width = t.shape
        kernel = _gaussian_kernel1d(self.sigma, self.truncate)
        radius = (kernel.numel() - 1) // 2
        x = t.reshape(layers * heads, 1, height, width).to(torch.float64)
        x = F.conv2d(x[..., _reflect_indices(width, radius)], kernel.view(1, 1, 1, -1))
        x = F.conv2d(x[..., _reflect_indices(height, radius), :], kernel.view(1, 1, -1, 1))
        return SaliencyMap(x.reshape(t.shape).to(t.dtype))

    def __repr__(self) -> str:
        return f"GaussianSmoothing(sigma={self.sigma}, truncate={self.truncate})"


_INTERPOLATION_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "area")
_MODES_WITH_ALIGN_CORNERS = ("bilinear", "bicubic")


class Upscale(Chainable):
    """Resize every [H, W] slice with ``torch.nn.functional.interpolate``: [L, H, h, w] -> [L, H, height, width].

    Args:
        height: output height in pixels.
        width: output width in pixels.
        mode: "bilinear" (default), "bicubic", "nearest", "nearest-exact" or "area"; the interpolating modes
            use ``align_corners=False`` (pixel centres aligned, as image resizing does).

    A finite map whose interpolation overflows its dtype (bicubic overshoot on float16 values near 65504) is
    interpolated again in float64 and cast back: values that fit the dtype come out right, the rest infinite,
    never NaN.
    """

    def __init__(self, height: int, width: int, mode: str = "bilinear") -> None:
        if height < 1 or width < 1:
            raise ValueError(f"Upscale needs a positive size, got height={height}, width={width}.")
        if mode not in _INTERPOLATION_MODES:
            raise ValueError(f"Unknown Upscale mode {mode!r}; choose one of {list(_INTERPOLATION_MODES)}.")
        self.height = int(height)
        self.width = int(width)
        self.mode = mode

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        t = saliency_map._map
        resized = self._interpolate(t)
        if not torch.isfinite(resized).all() and torch.isfinite(t).all():
            resized = self._interpolate(t.to(torch.float64)).to(t.dtype)
        return SaliencyMap(resized)

    def _interpolate(self, t: torch.Tensor) -> torch.Tensor:
        align_corners = False if self.mode in _MODES_WITH_ALIGN_CORNERS else None
        return F.interpolate(t, size=(self.height, self.width), mode=self.mode, align_corners=align_corners)

    def __repr__(self) -> str:
        return f"Upscale(height={self.height}, width={self.width}, mode={self.mode!r})"
