"""InternVL and Aya Vision: GOT-OCR2-style tiles, then a thumbnail of the whole picture.

The image processor picks a grid of ``cols x rows`` tiles whose aspect ratio is closest to the picture's
(``get_optimal_tiled_canvas`` between ``min_patches`` and ``max_patches`` tiles), resizes the picture onto it and
cuts it row-major; a thumbnail of the whole picture follows when there is more than one tile. Each view becomes
the same number of tokens (a square grid after pixel shuffle). The tile counts are not in the processor outputs:
they are recomputed from the original pictures given to ``capture(..., images=...)``; without them, a single
picture's grid is read off its views (the arrangement whose stitched tiles match the thumbnail).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .base import ImageLayout, LayoutContext, View, full_box, grid_view, register_layout, tile_box


def _setting(processor: Any, name: str) -> Any:
    """A call setting as the processor applies it: its ``images_kwargs`` first, then the image processor's."""
    value = (getattr(processor, "images_kwargs", None) or {}).get(name)
    return value if value is not None else getattr(processor.image_processor, name, None)


def _canvas_function(image_processor: Any) -> Callable[..., tuple[int, int]]:
    """The ``get_optimal_tiled_canvas`` of the image processor's own module (the torchvision and PIL backends
    each define one)."""
    fn = getattr(sys.modules.get(type(image_processor).__module__), "get_optimal_tiled_canvas", None)
    if fn is None:
        from transformers.models.got_ocr2 import image_processing_pil_got_ocr2

        fn = image_processing_pil_got_ocr2.get_optimal_tiled_canvas
    return fn


def grid_from_thumbnail(views: torch.Tensor, min_tiles: int, max_tiles: int) -> tuple[int, int]:
    """(rows, cols) of the tiles of one picture, found by matching the stitched tiles against its thumbnail.

    Args:
        views: [tiles + 1, 3, h, w] processed views of one picture, the thumbnail last.

    The tiles are a resize of the picture cut row-major, and the thumbnail a resize of the whole picture: only
    the right arrangement, stitched and shrunk to the thumbnail's size, looks like it.
    """
    tiles, thumbnail = views[:-1].float(), views[-1].float()
    n, _, h, w = tiles.shape
    best: tuple[float, tuple[int, int]] | None = None
    for rows in range(1, n + 1):
        cols, left = divmod(n, rows)
        if left or not min_tiles <= n <= max_tiles:
            continue
        stitched = tiles.reshape(rows, cols, 3, h, w).permute(2, 0, 3, 1, 4).reshape(1, 3, rows * h, cols * w)
        error = float((F.interpolate(stitched, size=(h, w), mode="area")[0] - thumbnail).pow(2).mean())
        if best is None or error < best[0]:
            best = (error, (rows, cols))
    if best is None:
        raise ValueError(f"{n} tiles fit no grid of {min_tiles} to {max_tiles} tiles.")
    return best[1]


def tiled_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Views "tile rRcC" (1-based, row-major) and, with more than one tile, "global" per image."""
    processor = ctx.processor
    if ctx.images is None:
        return _single_picture_layout(ctx)
    tile = processor.image_processor.size
    get_optimal_tiled_canvas = _canvas_function(processor.image_processor)
    grids = []
    for image in ctx.images:
        width, height = image.size
        if _setting(processor, "crop_to_patches"):
            cols, rows = get_optimal_tiled_canvas(
                (height, width),
                (int(tile.height), int(tile.width)),
                int(_setting(processor, "min_patches")),
                int(_setting(processor, "max_patches")),
            )
        else:
            cols, rows = 1, 1
        grids.append((rows, cols))
    views_per_image = [rows * cols + (1 if rows * cols > 1 else 0) for rows, cols in grids]
    total = int(ctx.image_positions.numel())
    per_view, left = divmod(total, sum(views_per_image))
    side = round(per_view**0.5)
    if left or side * side != per_view:
        raise ValueError(
            f"{total} image tokens cannot be split into {sum(views_per_image)} square views; pass the pictures given "
            "to the processor, in prompt order."
        )
    runs = ctx.split_runs([n * per_view for n in views_per_image])
    return [
        _tiles_and_thumbnail(run, per_view, side, rows, cols, image.size)
        for image, run, (rows, cols) in zip(ctx.images, runs, grids, strict=True)
    ]


def _single_picture_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Without the original picture: one picture's tile grid read off its processed views."""
    pixel_values = ctx.inputs["pixel_values"]
    n_views = int(pixel_values.shape[0])
    total = int(ctx.image_positions.numel())
    per_view = total // n_views
    side = round(per_view**0.5)
    if n_views > 1 and _image_blocks(ctx) > 1:
        raise ValueError(
            f"{ctx.config.model_type} tiles each picture by its original size, which the processor outputs do not "
            "keep: with several pictures, pass the pictures, capture(..., images=[...])."
        )
    if n_views == 1:
        rows = cols = 1
    else:
        processor = ctx.processor
        rows, cols = grid_from_thumbnail(
            pixel_values, int(_setting(processor, "min_patches")), int(_setting(processor, "max_patches"))
        )
    tile_h, tile_w = int(pixel_values.shape[-2]), int(pixel_values.shape[-1])
    return [_tiles_and_thumbnail(ctx.image_positions, per_view, side, rows, cols, (cols * tile_w, rows * tile_h))]


def _image_blocks(ctx: LayoutContext) -> int:
    """How many separate pictures the prompt holds, counted by their opening tokens (those followed by an image
    token: the same token generated in the answer opens no picture)."""
    processor = ctx.processor
    image_start = getattr(processor, "start_image_token", None) or getattr(processor, "start_of_img_token", None)
    tokenizer = getattr(ctx.processor, "tokenizer", None)
    if image_start is None or tokenizer is None:
        return 2
    start_id = tokenizer.convert_tokens_to_ids(image_start)
    ids = ctx.input_ids
    return int(((ids[:-1] == start_id) & (ids[1:] == ctx.image_token_id)).sum())


def _tiles_and_thumbnail(
    run: torch.Tensor, per_view: int, side: int, rows: int, cols: int, size: tuple[int, int]
) -> ImageLayout:
    views: list[View] = []
    for k, part in enumerate(run.split(per_view)):
        if k == rows * cols:
            views.append(grid_view("global", part, side, side, full_box(size)))
            continue
        r, c = divmod(k, cols)
        views.append(grid_view(f"tile r{r + 1}c{c + 1}", part, side, side, tile_box(r, c, rows, cols, size)))
    return ImageLayout(views=tuple(views), size=size)


register_layout("internvl", tiled_layout)
register_layout("aya_vision", tiled_layout)
