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
    return SaliencyMap(torch.abs(saliency_map.map))


@chainable
def relu(saliency_map: SaliencyMap) -> SaliencyMap:
    """``max(x, 0)`` elementwise. [L, H, h, w] -> [L, H, h, w]."""
    return SaliencyMap(torch.relu(saliency_map.map))


@chainable
def sigmoid(saliency_map: SaliencyMap) -> SaliencyMap:
    """``1 / (1 + exp(-x))`` elementwise. [L, H, h, w] -> [L, H, h, w]."""
    return SaliencyMap(torch.sigmoid(saliency_map.map))


@chainable
def normalize(saliency_map: SaliencyMap) -> SaliencyMap:
    """Min-max scale the whole map to [0, 1]: ``(x - min) / (max - min)``. [L, H, h, w] -> [L, H, h, w].

    Minimum and maximum are taken over all layers and heads together, so their relative scale is kept.
    A constant map has no range to scale and becomes all zeros.
    """
    t = saliency_map.map
    low, high = t.amin(), t.amax()
    span = high - low
    if span == 0:
        return SaliencyMap(torch.zeros_like(t))
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
