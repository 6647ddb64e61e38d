"""One grid over the whole picture: every view of an image spread onto it.

Tiles land at their place; a coarser view (a global thumbnail, LLaVA-NeXT's base image, Gemma 3's full image
beside its crops) spreads each cell's value evenly over the fine cells it covers. The spreading keeps sums, so a
token's map over the canvas totals the attention it paid to the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from .base import ImageLayout, View

RUNS_AS_SLICES = 64
"""Up to this many runs of consecutive positions, ``Canvas.take`` reads slices; past it, one index_select."""


@dataclass(frozen=True)
class Canvas:
    """A linear map from an image's cells to a [rows, cols] grid over its whole frame.

    Attributes:
        rows, cols: the canvas grid; cells are ``size / (cols, rows)`` pixels.
        positions: LongTensor [n] of the sequence positions of every view's cells.
        weights: [n, rows * cols]: how much of each cell's value each canvas cell receives (rows sum to 1, or to 0
            for a cell off the picture); None when the cells are the grid itself, row-major (one view's own grid).
    """

    rows: int
    cols: int
    positions: torch.Tensor
    weights: torch.Tensor | None

    @classmethod
    def of_view(cls, view: View) -> Canvas:
        """One view on its own grid: the identity map of its cells, row-major."""
        rows, cols = view.grid
        return cls(rows=rows, cols=cols, positions=view.positions.reshape(-1), weights=None)

    def apply(self, values: torch.Tensor) -> torch.Tensor:
        """[..., n] float values of ``positions`` -> [..., rows, cols] canvas (float32 when spreading).

        Each canvas cell sums its few sources one after the other, the same way for any number of leading maps,
        so a stack of maps spreads exactly as each map alone (a dense product would sum the zeros too, in an order
        that depends on the stack's size).
        """
        lead = values.shape[:-1]
        if self.weights is None:
            return values.reshape(*lead, self.rows, self.cols)
        sources, weights = self._sources
        flat = values.reshape(-1, values.shape[-1]).to(self.weights.dtype)
        out = flat.index_select(1, sources[:, 0]) * weights[:, 0]
        for k in range(1, sources.shape[1]):
            out += flat.index_select(1, sources[:, k]) * weights[:, k]
        return out.reshape(*lead, self.rows, self.cols)

    def take(self, values: torch.Tensor) -> torch.Tensor:
        """[..., K] values over a wider axis that ``positions`` index -> [..., rows, cols]: ``apply`` of
        ``values[..., positions]``, read as slices of the runs of consecutive positions (a view of ``values`` when
        the positions are one run and the cells are the grid)."""
        runs = self._runs
        if len(runs) == 1:
            start, stop = runs[0]
            picked = values[..., start:stop]
        elif len(runs) <= RUNS_AS_SLICES:
            picked = torch.cat([values[..., start:stop] for start, stop in runs], dim=-1)
        else:
            picked = values.index_select(-1, self.positions)
        return self.apply(picked)

    @cached_property
    def _runs(self) -> tuple[tuple[int, int], ...]:
        """``positions`` as (start, stop) runs of consecutive values, in order."""
        flat = self.positions.reshape(-1)
        if flat.numel() == 0:
            return ((0, 0),)
        breaks = (torch.nonzero(flat[1:] != flat[:-1] + 1).flatten() + 1).tolist()
        bounds = [0, *breaks, flat.numel()]
        starts = flat[bounds[:-1]].tolist()
        return tuple((s, s + b - a) for s, a, b in zip(starts, bounds[:-1], bounds[1:], strict=True))

    @cached_property
    def _sources(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per canvas cell, its sources in ``positions`` order and their weights: LongTensor [rows * cols, k] and
        [rows * cols, k], padded to the most sources any cell has with the cell's first source (source 0 for a
        cell no view covers) at weight 0, so padding reads only values the cell already depends on."""
        assert self.weights is not None
        per_cell = self.weights.T != 0  # [rows * cols, n]
        width = max(1, int(per_cell.sum(dim=1).max()))
        sources = torch.zeros(per_cell.shape[0], width, dtype=torch.long)
        weights = torch.zeros(per_cell.shape[0], width, dtype=self.weights.dtype)
        cell, source = torch.nonzero(per_cell, as_tuple=True)  # row-major: sources of a cell in ascending order
        slot = torch.arange(cell.numel()) - torch.searchsorted(cell, cell)
        sources[cell[slot == 0], :] = source[slot == 0, None]
        sources[cell, slot] = source
        weights[cell, slot] = self.weights[source, cell]
        return sources, weights


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
