"""Selecting and reducing the layer and head axes of a [layers, heads, H, W] map."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeAlias

import torch

from ..core.map import SaliencyMap
from .pipe import Chainable

Reduction: TypeAlias = Literal["mean", "sum", "max", "min", "prod"]

_REDUCERS: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    "mean": lambda t, dim: t.mean(dim=dim, keepdim=True),
    "sum": lambda t, dim: t.sum(dim=dim, keepdim=True),
    "max": lambda t, dim: t.amax(dim=dim, keepdim=True),
    "min": lambda t, dim: t.amin(dim=dim, keepdim=True),
    "prod": lambda t, dim: t.prod(dim=dim, keepdim=True),
}


def _check_index(index: int, size: int, axis: str, shape: torch.Size) -> None:
    if not -size <= index < size:
        raise IndexError(f"{axis} index {index} is out of range for a map of shape {list(shape)} ({size} {axis}s).")


class SelectLayers(Chainable):
    """Keep the given layers, in the given order: [L, H, h, w] -> [len(layers), H, h, w].

    Args:
        layers: one layer index or a list of them; negative indices count from the last layer.

    Raises:
        ValueError: no layer given.
        IndexError: an index is outside the map's layers.
    """

    def __init__(self, layers: int | list[int]) -> None:
        self.layers = [layers] if isinstance(layers, int) else list(layers)
        if not self.layers:
            raise ValueError("SelectLayers needs at least one layer index.")

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        shape = saliency_map.shape
        for layer in self.layers:
            _check_index(layer, shape[0], "layer", shape)
        return SaliencyMap(saliency_map._map[self.layers])

    def __repr__(self) -> str:
        return f"SelectLayers({self.layers})"


class SelectHeads(Chainable):
    """Keep individual (layer, head) pairs, stacked on the head axis: [L, H, h, w] -> [1, len(heads), h, w].

    Args:
        heads: one ``(layer, head)`` pair or a list of them; negative indices count from the end.

    Raises:
        ValueError: no pair given.
        IndexError: a layer or head index is outside the map.
    """

    def __init__(self, heads: tuple[int, int] | list[tuple[int, int]]) -> None:
        pairs = [heads] if isinstance(heads, tuple) else list(heads)
        self.heads: list[tuple[int, int]] = [(int(layer), int(head)) for layer, head in pairs]
        if not self.heads:
            raise ValueError("SelectHeads needs at least one (layer, head) pair.")

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        shape = saliency_map.shape
        for layer, head in self.heads:
            _check_index(layer, shape[0], "layer", shape)
            _check_index(head, shape[1], "head", shape)
        layer_idx = [layer for layer, _ in self.heads]
        head_idx = [head for _, head in self.heads]
        return SaliencyMap(saliency_map._map[layer_idx, head_idx].unsqueeze(0))

    def __repr__(self) -> str:
        return f"SelectHeads({self.heads})"


class _LayerCount(Chainable):
    """Shared checks for FirstNLayers and LastNLayers."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"{type(self).__name__} needs n >= 1, got {n}.")
        self.n = n

    def _checked(self, saliency_map: SaliencyMap) -> torch.Tensor:
        shape = saliency_map.shape
        if self.n > shape[0]:
            raise IndexError(f"Cannot take {self.n} layers from a map of shape {list(shape)} ({shape[0]} layers).")
        return saliency_map._map

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.n})"


class FirstNLayers(_LayerCount):
    """Keep the first ``n`` layers: [L, H, h, w] -> [n, H, h, w]."""

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        return SaliencyMap(self._checked(saliency_map)[: self.n])


class LastNLayers(_LayerCount):
    """Keep the last ``n`` layers: [L, H, h, w] -> [n, H, h, w]."""

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        return SaliencyMap(self._checked(saliency_map)[-self.n :])


class Aggregate(Chainable):
    """Reduce the layer axis, then the head axis, keeping both: [L, H, h, w] -> [1 or L, 1 or H, h, w].

    Args:
        layer_reduce: "mean", "sum", "max", "min", "prod", or None to keep every layer.
        head_reduce: the same choices for the head axis.

    Raises:
        ValueError: an unknown reduction name.
    """

    def __init__(self, layer_reduce: Reduction | None = "mean", head_reduce: Reduction | None = "mean") -> None:
        for axis, method in (("layer_reduce", layer_reduce), ("head_reduce", head_reduce)):
            if method is not None and method not in _REDUCERS:
                raise ValueError(f"Unknown {axis} {method!r}; choose one of {sorted(_REDUCERS)} or None.")
        self.layer_reduce = layer_reduce
        self.head_reduce = head_reduce

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        return SaliencyMap(self.reduce(saliency_map._map))

    def reduce(self, values: torch.Tensor) -> torch.Tensor:
        """The same reduction on a plain tensor [..., layers, heads, h, w] (a stack of maps, for instance).

        Finite values whose reduction overflowed their dtype are reduced again in float64 and cast back: a mean
        of float32 values near 3e38 overflows in its float32 sum although the mean fits, and so does a sum whose
        partial sums overflow before they cancel. A result past the dtype's largest value (a sum or product that
        does not fit) stays infinite.
        """
        reduced = self._reduce(values)
        if values.dtype != torch.float64 and not torch.isfinite(reduced).all() and torch.isfinite(values).all():
            reduced = self._reduce(values.to(torch.float64)).to(values.dtype)
        return reduced

    def _reduce(self, values: torch.Tensor) -> torch.Tensor:
        if self.layer_reduce is not None:
            values = _REDUCERS[self.layer_reduce](values, values.ndim - 4)
        if self.head_reduce is not None:
            values = _REDUCERS[self.head_reduce](values, values.ndim - 3)
        return values

    def __repr__(self) -> str:
        return f"Aggregate(layer_reduce={self.layer_reduce!r}, head_reduce={self.head_reduce!r})"
