"""What the widget's image-to-text, compare and head-ranking features send: regions in the view's units, the map
as shown (selected heads or the aggregate), region scores, comparisons and rankings as trait values."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..core.map import SaliencyMap
from ..core.regions import Region, region_mask
from ..core.trace import Trace
from ..layouts.base import ImageLayout
from ..lib.compare import difference
from ..lib.heads import HeadRanking
from .maps import Controls
from .protocol import PickRegion
from .serialize import decode_array, encode_array

RANKED_HEADS = 5
"""How many of a HeadRanking's heads the grid marks with their rank."""


def region_from_view(pick: PickRegion, size: tuple[int, int], grid: tuple[int, int]) -> Region | None:
    """The region a click or drag on the view names, in the units ``trace.tokens_for`` takes.

    A ``point`` (fractions of the picture's width and height) is the cell under it in a ``grid`` = (rows, cols)
    map, a ``box`` (fractions) a box in pixels of a ``size`` = (width, height) picture, neither no region.
    """
    (width, height), (rows, cols) = size, grid
    if pick.point is not None:
        x, y = pick.point
        return (min(max(int(y * rows), 0), rows - 1), min(max(int(x * cols), 0), cols - 1))
    if pick.box is not None:
        left, top, right, bottom = pick.box
        return (left * width, top * height, right * width, bottom * height)
    return None


def outline(region: Region, size: tuple[int, int], grid: tuple[int, int]) -> list[float]:
    """[left, top, right, bottom] as fractions of the picture: the bounding box of the cells ``region`` covers."""
    mask = region_mask(region, grid, size)
    rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
    r, c = mask.shape
    return [int(cols[0]) / c, int(rows[0]) / r, (int(cols[-1]) + 1) / c, (int(rows[-1]) + 1) / r]


def scores_state(scores: torch.Tensor, box: list[float], image_index: int, mode: str) -> dict[str, Any]:
    """The ``region_scores`` trait: float32 [T] scores (NaN: no map), the outlined box, image and mode used."""
    return {
        "scores": encode_array(scores.numpy().astype(np.float32)),
        "box": box,
        "image_index": image_index,
        "mode": mode,
    }


def check_region(region: Any, layout: ImageLayout) -> Any:
    """``region`` when it is None or a region of ``layout``'s picture; else a ValueError that says why."""
    if region is not None:
        try:
            outline(region, layout.size, layout.view().grid)
        except (ValueError, TypeError) as error:
            raise ValueError(f"w.region: {error}") from None
    return region


def score_region(trace: Trace, region: Region, controls: Controls) -> dict[str, Any]:
    """The ``region_scores`` trait: ``trace.tokens_for(region)`` on the controls' image with their reductions and
    method when it is a string mode (else "attn"), and the cells the region covers."""
    index, mode = controls.image_index, controls.method if isinstance(controls.method, str) else "attn"
    layout = trace.image_layouts[index]
    scores = trace.tokens_for(region, index, mode, layer_reduce=controls.layer_reduce, head_reduce=controls.head_reduce)
    return scores_state(scores, outline(region, layout.size, layout.view().grid), index, mode)


@dataclass(frozen=True, eq=False)
class TokenScores(Mapping[int, float]):
    """What each token's map puts on ``w.region`` (``trace.tokens_for``), labelled: a mapping position -> score over
    the tokens that have a map, which prints as a table of position, token and score, highest first.

    ``tensor`` is the FloatTensor [T] itself (NaN where a token has no map), as ``trace.tokens_for`` returns it.
    """

    tensor: torch.Tensor
    """FloatTensor [T]: per position, the score; NaN where the token has no map."""
    text: Sequence[str]
    """Per position, the token's text as it reads."""
    mode: str
    """The method the scores come from."""
    image_index: int
    """The image the region lies on."""

    def _finite(self) -> list[int]:
        return [int(p) for p in torch.nonzero(torch.isfinite(self.tensor)).flatten()]

    def __getitem__(self, position: int) -> float:
        if not 0 <= position < len(self.tensor) or not torch.isfinite(self.tensor[position]):
            raise KeyError(f"Position {position} has no score: only tokens with a map are scored (list(scores)).")
        return float(self.tensor[position])

    def __iter__(self) -> Iterator[int]:
        return iter(self._finite())

    def __len__(self) -> int:
        return len(self._finite())

    def top(self, count: int = 10) -> list[tuple[int, str, float]]:
        """The ``count`` highest scores: (position, token text, score), highest first."""
        ranked = sorted(self._finite(), key=lambda p: float(self.tensor[p]), reverse=True)[:count]
        return [(p, self.text[p], float(self.tensor[p])) for p in ranked]

    def __repr__(self) -> str:
        shown = self.top(TABLE_ROWS)
        rows = [f"{p:>8}  {json.dumps(text, ensure_ascii=False)[:24]:<24}  {score:.4g}" for p, text, score in shown]
        more = len(self) - len(shown)
        return "\n".join(
            [
                f"TokenScores: what each token's {self.mode} map puts on the region of image {self.image_index} "
                f"({len(self)} tokens with a map, highest first; .tensor holds all {len(self.tensor)} positions)",
                f"{'position':>8}  {'token':<24}  score",
                *rows,
                *([f"... {more} more"] if more > 0 else []),
            ]
        )


TABLE_ROWS = 20
"""How many tokens a TokenScores prints."""


def token_scores(region_scores: dict[str, Any], text: Sequence[str]) -> TokenScores | None:
    """The scores a ``region_scores`` trait holds (a copy), labelled with each position's ``text``; None for an
    empty trait."""
    if not region_scores:
        return None
    scores = torch.from_numpy(decode_array(region_scores["scores"]).copy())
    return TokenScores(scores, list(text), str(region_scores["mode"]), int(region_scores["image_index"]))


def comparison_state(
    token: int, compare_token: int, mode: str, image_index: int, first: SaliencyMap, second: SaliencyMap
) -> dict[str, Any]:
    """The ``comparison`` trait: ``lib.difference(first, second)`` (the two tokens' maps as shown), float32
    [h, w], and what it compares."""
    values = difference(first, second)
    return {
        "token": token,
        "compare_token": compare_token,
        "mode": mode,
        "image_index": image_index,
        "values": encode_array(values.numpy()[0, 0].astype(np.float32)),
    }


def ranking_state(
    ranking: HeadRanking | None, axis_labels: Callable[[int, int], tuple[list[int], list[int]]]
) -> dict[str, Any]:
    """The ``head_ranking`` trait: the top heads, most frequent first, float32 [layers, heads] frequencies, and the
    model's index of each layer and head (``axis_labels(layers, heads)``: the trace's ``Trace.axis_labels``)."""
    if ranking is None:
        return {}
    if not isinstance(ranking, HeadRanking):
        raise TypeError(
            f"head_ranking= takes what lib.rank_localization_heads(maps) returns (a HeadRanking), not "
            f"{type(ranking).__name__}."
        )
    layer_labels, head_labels = axis_labels(*ranking.shape)
    return {
        "top": [list(pair) for pair in ranking.top(RANKED_HEADS)],
        "frequencies": encode_array(ranking.frequencies().numpy().astype(np.float32)),
        "samples": ranking.samples,
        "layer_labels": layer_labels,
        "head_labels": head_labels,
    }
