"""Localization heads across a dataset: which heads ``LocalizationHeads`` selects most often over many maps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ..core.map import SaliencyMap
from ..transforms.layers import SelectHeads
from ..transforms.localization import LocalizationHeads


@dataclass(frozen=True)
class HeadRanking:
    """How often each (layer, head) was selected, over ``samples`` maps.

    Attributes:
        counts: per (layer, head), the number of maps it was selected for.
        samples: the number of maps ranked.
        shape: (layers, heads) of the maps.
    """

    counts: dict[tuple[int, int], int]
    samples: int
    shape: tuple[int, int]

    def top(self, k: int = 5) -> list[tuple[int, int]]:
        """The ``k`` most frequently selected (layer, head) pairs, most frequent first (ties: lower layer, head)."""
        return [pair for pair, _ in sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))[:k]]

    def frequencies(self) -> torch.Tensor:
        """FloatTensor [layers, heads]: the share of maps each head was selected for."""
        out = torch.zeros(self.shape)
        for (layer, head), count in self.counts.items():
            out[layer, head] = count / max(self.samples, 1)
        return out

    def select(self, k: int = 5) -> SelectHeads:
        """A transform keeping the ``k`` most frequent heads: ``trace.map(t) >> ranking.select(3)``."""
        heads = self.top(k)
        if not heads:
            raise ValueError("The ranking is empty: rank at least one map in which a head was selected.")
        return SelectHeads(heads)


def rank_localization_heads(maps: Iterable[SaliencyMap], selector: LocalizationHeads | None = None) -> HeadRanking:
    """Rank heads by how often ``selector`` picks them over many attention maps (the localization-heads paper
    selects by frequency over about 1,000 samples).

    Args:
        maps: attention maps [layers, heads, H, W] of the model's full layer range, one per sample, e.g.
            ``(trace.map(t, "attn") for trace, t in samples)``.
        selector: the per-map selection; default ``LocalizationHeads()``.

    Raises:
        ValueError: no map was given, or the maps' layers and heads differ.
    """
    selector = selector or LocalizationHeads()
    counts: Counter[tuple[int, int]] = Counter()
    shape: tuple[int, int] | None = None
    samples = 0
    for saliency_map in maps:
        this = (int(saliency_map.shape[0]), int(saliency_map.shape[1]))
        if shape is not None and this != shape:
            raise ValueError(f"Map {samples} has {this} layers x heads, the first map {shape}: rank maps of one model.")
        shape = this
        counts.update(selector.rank(saliency_map))
        samples += 1
    if shape is None:
        raise ValueError("rank_localization_heads() needs at least one map.")
    return HeadRanking(counts=dict(counts), samples=samples, shape=shape)
