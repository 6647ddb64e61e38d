"""Reductions of the layer and head axes of [..., layers, heads, h, w] values: one implementation for
``SaliencyMap.agg``, ``transforms.Aggregate`` and ``Trace.maps``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeAlias

import torch

Reduction: TypeAlias = Literal["mean", "sum", "max", "min", "prod"]

REDUCERS: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    "mean": lambda t, dim: t.mean(dim=dim, keepdim=True),
    "sum": lambda t, dim: t.sum(dim=dim, keepdim=True),
    "max": lambda t, dim: t.amax(dim=dim, keepdim=True),
    "min": lambda t, dim: t.amin(dim=dim, keepdim=True),
    "prod": lambda t, dim: t.prod(dim=dim, keepdim=True),
}
"""Each reduction by name, keeping the reduced axis (size 1)."""

LINEAR: frozenset[Reduction | None] = frozenset({"mean", "sum", None})
"""Reductions that commute with a linear map of the cells (a canvas spreading coarse views onto fine ones)."""


def check_reduction(name: str | None, axis: str) -> None:
    """Raise ValueError unless ``name`` is a reduction (or None, which keeps the axis)."""
    if name is not None and name not in REDUCERS:
        raise ValueError(f"Unknown {axis} {name!r}; choose one of {sorted(REDUCERS)} or None.")


def reduce_layers_heads(
    values: torch.Tensor, layer_reduce: Reduction | None, head_reduce: Reduction | None
) -> torch.Tensor:
    """Reduce the layer axis, then the head axis, of ``values`` [..., layers, heads, h, w], keeping both
    (size 1 where reduced); None keeps that axis as it is.

    Finite values whose reduction overflowed their dtype are reduced again in float64 and cast back: a mean of
    float32 values near 3e38 overflows in its float32 sum although the mean fits, and so does a sum whose partial
    sums overflow before they cancel. A result past the dtype's largest value (a sum or product that does not fit)
    stays infinite.
    """
    check_reduction(layer_reduce, "layer_reduce")
    check_reduction(head_reduce, "head_reduce")
    reduced = _reduce(values, layer_reduce, head_reduce)
    if values.dtype != torch.float64 and not torch.isfinite(reduced).all() and torch.isfinite(values).all():
        reduced = _reduce(values.to(torch.float64), layer_reduce, head_reduce).to(values.dtype)
    return reduced


def _reduce(values: torch.Tensor, layer_reduce: Reduction | None, head_reduce: Reduction | None) -> torch.Tensor:
    if layer_reduce is not None:
        values = REDUCERS[layer_reduce](values, values.ndim - 4)
    if head_reduce is not None:
        values = REDUCERS[head_reduce](values, values.ndim - 3)
    return values
