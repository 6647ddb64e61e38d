"""Elementwise transforms, each usable eagerly (``normalize(m)``) or lazily (``m >> normalize()``).

All keep the shape [layers, heads, H, W]. The class forms (``Normalize()``, ``Sigmoid()``, ...) do the same
as the lowercase functions and exist so that README-style ``T.Sigmoid()`` works as written.
"""

from __future__ import annotations

import torch

from ..core.map import SaliencyMap
from .pipe import Chainable, chainable


@chainable
def abs(saliency_map: SaliencyMap) -> SaliencyMap:
    """``|x|`` elementwise. [L, H, h, w] -> [L, H, h, w]."""
    return SaliencyMap(torch.abs(saliency_map._map))


@chainable
def relu(saliency_map: SaliencyMap) -> SaliencyMap:
    """``max(x, 0)`` elementwise. [L, H, h, w] -> [L, H, h, w]."""
    return SaliencyMap(torch.relu(saliency_map._map))


@chainable
def sigmoid(saliency_map: SaliencyMap) -> SaliencyMap:
    """``1 / (1 + exp(-x))`` elementwise. [L, H, h, w] -> [L, H, h, w]."""
    return SaliencyMap(torch.sigmoid(saliency_map._map))


@chainable
def normalize(saliency_map: SaliencyMap) -> SaliencyMap:
    """Min-max scale the whole map to [0, 1]: ``(x - min) / (max - min)``. [L, H, h, w] -> [L, H, h, w].

    Minimum and maximum are taken over all layers and heads together, so their relative scale is kept.
    A constant map has no range to scale and becomes all zeros. Any finite map gives a finite result, in its
    own dtype: a range wider than the dtype's largest value (float16 maps from -60000 to 60000) is scaled at half
    size, which is exact.

    Raises:
        ValueError: the map holds NaN or infinite values (a half-precision model that overflowed), which have no
            place on a [0, 1] scale.
    """
    t = saliency_map._map
    finite = torch.isfinite(t)
    if not finite.all():
        bad_layers = torch.nonzero(~finite.flatten(1).all(dim=1)).flatten().tolist()
        raise ValueError(
            f"normalize() cannot scale a map holding {int(t.isnan().sum())} NaN and {int(t.isinf().sum())} "
            f"infinite values (in layers {bad_layers} of a map of shape {list(t.shape)}); a model run in float16 "
            "may have overflowed. Capture with the model in bfloat16 or float32, keep the finite layers "
            "(T.SelectLayers), or replace the values yourself: SaliencyMap(torch.nan_to_num(m.tensor()))."
        )
    low, high = t.amin(), t.amax()
    span = high - low
    if span == 0:
        return SaliencyMap(torch.zeros_like(t))
    if torch.isinf(span):
        t, low, span = t / 2, low / 2, high / 2 - low / 2
    return SaliencyMap((t - low) / span)


class Abs(Chainable):
    """Class form of :func:`abs`. [L, H, h, w] -> [L, H, h, w]."""

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        return abs(saliency_map)


class ReLU(Chainable):
    """Class form of :func:`relu`. [L, H, h, w] -> [L, H, h, w]."""

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        return relu(saliency_map)


class Sigmoid(Chainable):
    """Class form of :func:`sigmoid`. [L, H, h, w] -> [L, H, h, w]."""

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        return sigmoid(saliency_map)


class Normalize(Chainable):
    """Class form of :func:`normalize`. [L, H, h, w] -> [L, H, h, w]."""

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        return normalize(saliency_map)
