"""What the widget's image-to-text, compare and head-ranking features send: regions in the view's units."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..core.regions import Region, region_mask
from ..lib.heads import HeadRanking
from .serialize import encode_array

RANKED_HEADS = 5
"""How many of a HeadRanking's heads the grid marks with their rank."""


def region_from_view(content: dict[str, Any], size: tuple[int, int], grid: tuple[int, int]) -> Region | None:
    """The region a view message names, in the units ``trace.tokens_for`` takes.

    ``{"point": [x, y]}`` (fractions of the picture's width and height) is the cell under it,
    ``{"box": [left, top, right, bottom]}`` (fractions) a box in pixels of a ``size`` = (width, height) picture,
    anything else (``{"region": None}``) no region. ``grid`` is (rows, cols) of the map.

    Raises:
        ValueError: the point or box is not two or four numbers.
    """
    (width, height), (rows, cols) = size, grid
    if "point" in content:
        x, y = _numbers(content["point"], 2)
        return (min(max(int(y * rows), 0), rows - 1), min(max(int(x * cols), 0), cols - 1))
    if "box" in content:
        left, top, right, bottom = _numbers(content["box"], 4)
        return (left * width, top * height, right * width, bottom * height)
    return None


def _numbers(value: Any, count: int) -> list[float]:
    if not isinstance(value, list) or len(value) != count or not all(isinstance(v, (int, float)) for v in value):
        raise ValueError(f"The view sent {value!r} where {count} numbers (fractions of the picture) belong.")
    return [float(v) for v in value]


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
