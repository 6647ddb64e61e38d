"""Selecting and reducing the layer and head axes of a [layers, heads, H, W] map."""

from __future__ import annotations

import torch

from ..core.map import SaliencyMap
from ..core.reduce import Reduction, check_reduction, reduce_layers_heads
from .pipe import Chainable

__all__ = ["Aggregate", "FirstNLayers", "LastNLayers", "Reduction", "SelectHeads", "SelectLayers"]


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
        check_reduction(layer_reduce, "layer_reduce")
        check_reduction(head_reduce, "head_reduce")
        self.layer_reduce = layer_reduce
        self.head_reduce = head_reduce

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        return SaliencyMap(self.reduce(saliency_map._map))

    def reduce(self, values: torch.Tensor) -> torch.Tensor:
        """The same reduction on a plain tensor [..., layers, heads, h, w] (see ``core.reduce``)."""
        return reduce_layers_heads(values, self.layer_reduce, self.head_reduce)

    def __repr__(self) -> str:
        return f"Aggregate(layer_reduce={self.layer_reduce!r}, head_reduce={self.head_reduce!r})"
