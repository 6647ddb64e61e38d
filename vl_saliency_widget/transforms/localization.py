"""Localization heads: the few attention heads that point at the object being talked about.

The criterion follows Kang et al., "Your Large Vision-Language Model Only Needs A Few Attention Heads For
Visual Grounding" (CVPR 2025), in the form the reference vl-saliency library applies it to one token's map:

1. Attention mass: a head's sum over the image. An elbow of the ascending sorted sums (the point furthest from
   the chord joining the first and last) is the threshold; heads below it are not localization candidates.
2. Spatial entropy: keep what stands out (``relu(attn - 2 * mean)``), split it into 8-connected components,
   and take the entropy of the components' shares of that mass. One compact blob scores 0, scattered mass high.

Heads that put weight on the bottom row of the image grid (an artefact, not an object) and heads of the first
two layers are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..core.map import SaliencyMap
from .layers import SelectHeads
from .pipe import Chainable

COMPONENT_THRESHOLD = 0.001
"""A patch belongs to a component when its mass above twice the mean exceeds this."""

LAST_ROW_LIMIT = 0.05
"""A candidate head with any bottom-row patch above this value is skipped."""

FIRST_LOCALIZATION_LAYER = 2
"""Layers before this one are not ranked (they attend broadly); they may only fill up ``min_keep``."""


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the 8-connected components of a 2D boolean mask.

    Args:
        mask: boolean array [H, W].

    Returns:
        ``(labels, count)``: int64 labels [H, W] with 0 for background and 1..count for the components,
        numbered in raster order of their first pixel.
    """
    if mask.ndim != 2:
        raise ValueError(f"label_components needs a 2D mask, got shape {mask.shape}.")
    mask = mask.astype(bool)

    # Horizontal runs of foreground pixels, row by row: (row, start, stop) with stop exclusive.
    runs: list[tuple[int, int, int]] = []
    runs_by_row: list[list[int]] = []
    for row in range(mask.shape[0]):
        edges = np.flatnonzero(np.diff(np.concatenate(([0], mask[row].astype(np.int8), [0]))))
        runs_by_row.append(list(range(len(runs), len(runs) + len(edges) // 2)))
        runs.extend((row, int(start), int(stop)) for start, stop in zip(edges[0::2], edges[1::2], strict=True))

    # Union-find over runs; the root of a component is its earliest run.
    parent = list(range(len(runs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for row in range(1, mask.shape[0]):
        for current in runs_by_row[row]:
            _, start, stop = runs[current]
            for above in runs_by_row[row - 1]:
                _, above_start, above_stop = runs[above]
                # 8-connectivity: runs touch when their column ranges overlap or meet diagonally.
                if above_start <= stop and start <= above_stop:
                    a, b = find(current), find(above)
                    parent[max(a, b)] = min(a, b)

    labels = np.zeros(mask.shape, dtype=np.int64)
    label_of_root: dict[int, int] = {}
    for i, (row, start, stop) in enumerate(runs):
        root = find(i)
        if root not in label_of_root:
            label_of_root[root] = len(label_of_root) + 1
        labels[row, start:stop] = label_of_root[root]
    return labels, len(label_of_root)


def spatial_entropy(attn: np.ndarray, threshold: float = COMPONENT_THRESHOLD) -> float:
    """Entropy of how a head's salient mass splits into connected blobs; lower is more focused.

    Args:
        attn: attention of one head over the image, [H, W].
        threshold: minimum salient mass for a patch to join a component.

    Returns:
        ``-sum(p * log p)`` over components, ``p`` being a component's share of ``relu(attn - 2 * mean)``;
        ``inf`` when no patch stands out (no salient mass, or none above ``threshold``).
    """
    salient = np.maximum(attn - 2 * attn.mean(), 0.0)
    total = float(salient.sum())
    labels, count = label_components(salient > threshold)
    if total <= 0 or count == 0:
        return math.inf
    shares = np.bincount(labels.ravel(), weights=salient.ravel(), minlength=count + 1)[1:] / total
    return float(-(shares * np.log(shares)).sum())


def elbow_threshold(values: Sequence[float] | np.ndarray) -> float:
    """The value at the elbow of ``values`` sorted ascending.

    The elbow is the point with the largest perpendicular distance to the chord from the first to the last
    point, plotted as (rank, value). With two values or fewer, the smallest is returned.
    """
    y = np.sort(np.asarray(values, dtype=np.float64))
    if y.size == 0:
        raise ValueError("elbow_threshold needs at least one value.")
    if y.size <= 2:
        return float(y[0])
    x = np.arange(y.size, dtype=np.float64)
    dx, dy = x[-1] - x[0], y[-1] - y[0]
    distance = np.abs(dx * (y - y[0]) - dy * (x - x[0])) / math.hypot(dx, dy)
    return float(y[int(np.argmax(distance))])


@dataclass(frozen=True)
class _Head:
    layer: int
    head: int
    mass: float
    entropy: float


class LocalizationHeads(Chainable):
    """Keep the heads that localize best: [L, H, h, w] attention -> [1, kept, h, w], best head first.

    Per head: the attention sum must reach the elbow threshold of all heads' sums (or every head qualifies
    with ``chord_thresholding=False``); a qualifying head whose bottom image row has a value above 0.05 is
    dropped; the rest are ranked by spatial entropy, ascending. Only layers from 2 on are ranked. When fewer
    than ``min_keep`` heads are ranked, the unranked heads with the largest sums fill up. At most
    ``max_keep`` heads are returned (all with None).

    Expects an attention map of the model's full layer range, so that layer indices are the model's.

    Raises:
        ValueError: no head meets the criteria (with ``min_keep=0``), or inconsistent keep bounds.
    """

    def __init__(self, chord_thresholding: bool = True, min_keep: int = 1, max_keep: int | None = 5) -> None:
        if min_keep < 0:
            raise ValueError(f"min_keep must be >= 0, got {min_keep}.")
        if max_keep is not None and max_keep < max(min_keep, 1):
            raise ValueError(f"max_keep must be None or >= max(min_keep, 1), got max_keep={max_keep}.")
        self.chord_thresholding = chord_thresholding
        self.min_keep = min_keep
        self.max_keep = max_keep

    def rank(self, saliency_map: SaliencyMap) -> list[tuple[int, int]]:
        """The selected (layer, head) pairs of a [L, H, h, w] map, best first."""
        t = saliency_map._map.to(torch.float64)
        num_heads = t.shape[1]
        masses = t.sum(dim=(-2, -1)).flatten().numpy()
        threshold = elbow_threshold(masses) if self.chord_thresholding else float(masses.min())

        candidates: list[_Head] = []
        for index, mass in enumerate(masses.tolist()):
            layer, head = divmod(index, num_heads)
            entropy = math.inf
            if mass >= threshold:
                attn = t[layer, head].numpy()
                if (attn[-1] > LAST_ROW_LIMIT).any():
                    continue
                entropy = spatial_entropy(attn)
            candidates.append(_Head(layer, head, mass, entropy))

        def ranked(c: _Head) -> bool:
            return math.isfinite(c.entropy) and c.layer >= FIRST_LOCALIZATION_LAYER

        kept = [c for c in candidates if ranked(c)]
        if len(kept) < self.min_keep:
            fillers = sorted((c for c in candidates if not ranked(c)), key=lambda c: c.mass, reverse=True)
            kept += fillers[: self.min_keep - len(kept)]
        kept.sort(key=lambda c: c.entropy)
        if self.max_keep is not None:
            kept = kept[: self.max_keep]
        return [(c.layer, c.head) for c in kept]

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        heads = self.rank(saliency_map)
        if not heads:
            raise ValueError(
                f"No localization head found in a map of shape {list(saliency_map.shape)} "
                f"(min_keep={self.min_keep}); heads attending to the bottom image row are never kept, "
                "so check that this is a token-to-image attention map."
            )
        return SelectHeads(heads)(saliency_map)

    def __repr__(self) -> str:
        return (
            f"LocalizationHeads(chord_thresholding={self.chord_thresholding}, "
            f"min_keep={self.min_keep}, max_keep={self.max_keep})"
        )
