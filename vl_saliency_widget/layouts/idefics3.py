"""Idefics3 and SmolVLM: the picture cut into tiles, then a global view of the whole picture.

Per image: for each tile, ``<fake_token_around_image><row_R_col_C>`` + N x ``<image>`` (a newline after each row
of tiles), then ``<fake_token_around_image><global-img>`` + N x ``<image>`` + ``<fake_token_around_image>``; an
image the processor does not split has only the global part. Each run of N tokens is a square grid (pixel
shuffle keeps row-major order). The processor does not return the tile counts, but it names every tile in the
prompt: the token before each run says which tile (or the global view) it is.
"""

from __future__ import annotations

import re

import torch

from .base import ImageLayout, LayoutContext, View, full_box, grid_view, register_layout, tile_box

_TILE = re.compile(r"<row_(\d+)_col_(\d+)>")


def image_runs(ctx: LayoutContext) -> list[torch.Tensor]:
    """The image positions split into runs of consecutive positions."""
    positions = ctx.image_positions
    breaks = torch.nonzero(positions[1:] != positions[:-1] + 1).flatten() + 1
    return list(torch.tensor_split(positions, breaks.tolist()))


def idefics3_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Layouts of an Idefics3/SmolVLM prompt: views "tile rRcC" (1-based) and "global" per image."""
    tokenizer = getattr(ctx.processor, "tokenizer", None)
    if tokenizer is None:
        raise ValueError("The Idefics3 layout reads the tile names from the prompt: capture with the processor.")
    tile_px = int(ctx.inputs["pixel_values"].shape[-1])
    layouts: list[ImageLayout] = []
    tiles: list[tuple[int, int, torch.Tensor]] = []
    for run in image_runs(ctx):
        marker = str(tokenizer.convert_ids_to_tokens(int(ctx.input_ids[int(run[0]) - 1])))
        side = round(run.numel() ** 0.5)
        if side * side != run.numel():
            raise ValueError(f"A run of {run.numel()} image tokens is not a square tile grid.")
        found = _TILE.fullmatch(marker)
        if found:
            tiles.append((int(found.group(1)), int(found.group(2)), run))
            continue
        if "global" not in marker:
            raise ValueError(f"Image tokens follow {marker!r}, neither a tile name nor the global image marker.")
        rows = max((r for r, _, _ in tiles), default=0)
        cols = max((c for _, c, _ in tiles), default=0)
        index = len(layouts)
        size = ctx.frame_size(index, (max(cols, 1) * tile_px, max(rows, 1) * tile_px))
        views: list[View] = [
            grid_view(
                f"tile r{r}c{c}",
                positions,
                side,
                side,
                tile_box(r - 1, c - 1, rows, cols, size),
            )
            for r, c, positions in tiles
        ]
        views.append(grid_view("global", run, side, side, full_box(size)))
        layouts.append(ImageLayout(views=tuple(views), size=size))
        tiles = []
    if tiles:
        raise ValueError("The prompt ends with image tiles but no global image: pass the processor's input_ids as is.")
    return layouts


register_layout("idefics3", idefics3_layout)
register_layout("smolvlm", idefics3_layout)
