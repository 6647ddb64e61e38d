"""One grid over the whole picture: every view of an image spread onto it.

Tiles land at their place; a coarser view (a global thumbnail, LLaVA-NeXT's base image, Gemma 3's full image
beside its crops) spreads each cell's value evenly over the fine cells it covers. The spreading keeps sums, so a
token's map over the canvas totals the attention it paid to the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import ImageLayout, View


@dataclass(frozen=True)
class Canvas:
    """A linear map from an image's cells to a [rows, cols] grid over its whole frame.

    Attributes:
        rows, cols: the canvas grid; cells are ``size / (cols, rows)`` pixels.
        positions: LongTensor [n] of the sequence positions of every view's cells.
        weights: [n, rows * cols]: how much of each cell's value each canvas cell receives (rows sum to 1, or to 0
            for a cell off the picture).
    """

    rows: int
    cols: int
    positions: torch.Tensor
    weights: torch.Tensor

    def apply(self, values: torch.Tensor) -> torch.Tensor:
        """[..., n] values of ``positions`` -> [..., rows, cols] canvas."""
        out = values.to(self.weights.dtype) @ self.weights
        return out.reshape(*values.shape[:-1], self.rows, self.cols)


def _cell_size(view: View) -> tuple[float, float]:
    left, top, right, bottom = view.box
    rows, cols = view.grid
    return (right - left) / cols, (bottom - top) / rows


def canvas(layout: ImageLayout) -> Canvas:
    """The canvas of ``layout``: as fine as its finest view, covering ``layout.size``."""
    width, height = layout.size
    cell_w = min(_cell_size(v)[0] for v in layout.views)
    cell_h = min(_cell_size(v)[1] for v in layout.views)
    cols, rows = max(1, round(width / cell_w)), max(1, round(height / cell_h))
    xs = (torch.arange(cols, dtype=torch.float64) + 0.5) * (width / cols)
    ys = (torch.arange(rows, dtype=torch.float64) + 0.5) * (height / rows)
    blocks = []
    for view in layout.views:
        left, top, _, _ = view.box
        w, h = _cell_size(view)
        view_rows, view_cols = view.grid
        # Which view cell each canvas column / row centre falls in (-1: outside the view).
        col_of = torch.floor((xs - left) / w).long()
        row_of = torch.floor((ys - top) / h).long()
        col_of[(col_of < 0) | (col_of >= view_cols)] = -1
        row_of[(row_of < 0) | (row_of >= view_rows)] = -1
        inside = (row_of[:, None] >= 0) & (col_of[None, :] >= 0)
        cell_of = torch.where(inside, row_of[:, None] * view_cols + col_of[None, :], -1).reshape(-1)
        block = torch.zeros(view_rows * view_cols, rows * cols, dtype=torch.float64)
        hit = cell_of >= 0
        block[cell_of[hit], torch.nonzero(hit).flatten()] = 1.0
        # A cell narrower than a canvas cell may hold no canvas centre: give it the canvas cell under its centre.
        # Cells off the picture (padding a processor added) stay empty.
        for cell in torch.nonzero(block.sum(dim=1) == 0).flatten().tolist():
            r, c = divmod(cell, view_cols)
            x, y = left + (c + 0.5) * w, top + (r + 0.5) * h
            if 0 <= x < width and 0 <= y < height:
                block[cell, int(y / (height / rows)) * cols + int(x / (width / cols))] = 1.0
        blocks.append(block / block.sum(dim=1, keepdim=True).clamp(min=1.0))
    weights = torch.cat(blocks).float()
    return Canvas(rows=rows, cols=cols, positions=layout.positions, weights=weights)


def is_plain(layout: ImageLayout) -> bool:
    """Whether the layout is one view covering its whole frame (its canvas is the view itself)."""
    if len(layout.views) != 1:
        return False
    width, height = layout.size
    return layout.views[0].box == (0.0, 0.0, float(width), float(height))
