"""Regions of a map's grid: a cell, a box in picture pixels, or a mask."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

Region = tuple[int, int] | tuple[float, float, float, float] | torch.Tensor | np.ndarray
"""A cell ``(row, col)`` of the grid, a box ``(left, top, right, bottom)`` in picture pixels, or a boolean mask
[rows, cols] over the grid."""


def box_cells(box: Sequence[float], size: tuple[int, int], grid: tuple[int, int]) -> torch.Tensor:
    """BoolTensor [rows, cols]: the cells of a ``grid`` over a ``size`` = (width, height) picture that overlap
    ``box`` = (left, top, right, bottom) in pixels, right and bottom exclusive."""
    (width, height), (rows, cols) = size, grid
    left, top, right, bottom = (float(v) for v in box)
    ys = torch.arange(rows) * height / rows
    xs = torch.arange(cols) * width / cols
    in_rows = (ys < bottom) & (ys + height / rows > top)
    in_cols = (xs < right) & (xs + width / cols > left)
    return in_rows[:, None] & in_cols[None, :]


def region_mask(region: Region, grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """BoolTensor [rows, cols] of the cells ``region`` covers on a ``grid`` laid over a ``size`` = (width, height)
    picture.

    Raises:
        ValueError: the region is empty, outside the grid or the picture, or of another shape.
        TypeError: the region is not a cell, a box or a mask.
    """
    rows, cols = grid
    if isinstance(region, (torch.Tensor, np.ndarray)):
        mask = torch.as_tensor(region)
        if mask.dtype != torch.bool or tuple(mask.shape) != (rows, cols):
            raise ValueError(
                f"A mask region must be a boolean tensor of the map's grid {rows} x {cols}, not {mask.dtype} "
                f"{tuple(mask.shape)}."
            )
    elif isinstance(region, (tuple, list)) and len(region) == 2 and all(isinstance(v, int) for v in region):
        row, col = region
        if not (0 <= row < rows and 0 <= col < cols):
            raise ValueError(f"Cell {(row, col)} is outside the map's grid of {rows} x {cols} cells.")
        mask = torch.zeros(rows, cols, dtype=torch.bool)
        mask[row, col] = True
    elif isinstance(region, (tuple, list)) and len(region) == 4:
        left, top, right, bottom = (float(v) for v in region)
        if not (left < right and top < bottom):
            raise ValueError(
                f"Box {tuple(region)} is empty: give (left, top, right, bottom) with left < right, top < bottom."
            )
        mask = box_cells(region, size, grid)
    else:
        raise TypeError(
            "region must be a cell (row, col), a box (left, top, right, bottom) in picture pixels, or a boolean "
            f"mask [rows, cols]; got {region!r}."
        )
    if not bool(mask.any()):
        raise ValueError(f"The region {region!r} covers no cell of the {size[0]} x {size[1]} picture's grid.")
    return mask
