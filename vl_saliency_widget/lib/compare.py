"""Comparing two maps of one trace: token A against token B, or method A against method B."""

from __future__ import annotations

from ..core.map import SaliencyMap


def difference(first: SaliencyMap, second: SaliencyMap) -> SaliencyMap:
    """The signed difference of two maps of one shape, each first scaled to unit mass.

    Every [H, W] slice (per layer and head) is divided by the sum of its absolute values, so maps of different
    scales (attention and a gradient method) compare as distributions; the result lies in [-2, 2] and is positive
    where ``first`` puts more. ``SaliencyMap.plot`` draws a signed map with a diverging colormap centred on 0.

    Raises:
        ValueError: the shapes differ (aggregate both the same way first).
    """
    if first.shape != second.shape:
        raise ValueError(
            f"difference() needs two maps of one shape, got {list(first.shape)} and {list(second.shape)}: "
            "aggregate both the same way (e.g. .agg()) first."
        )
    a, b = first.tensor().float(), second.tensor().float()
    a = a / a.abs().sum(dim=(-2, -1), keepdim=True).clamp(min=1e-30)
    b = b / b.abs().sum(dim=(-2, -1), keepdim=True).clamp(min=1e-30)
    return SaliencyMap(a - b)
