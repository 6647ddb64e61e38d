"""InternVL and Aya Vision: GOT-OCR2-style tiles, then a thumbnail of the whole picture.

The image processor picks a grid of ``cols x rows`` tiles whose aspect ratio is closest to the picture's
(``get_optimal_tiled_canvas`` between ``min_patches`` and ``max_patches`` tiles), resizes the picture onto it and
cuts it row-major; a thumbnail of the whole picture follows when there is more than one tile. Each view becomes
the same number of tokens (a square grid after pixel shuffle). The tile counts are not in the processor outputs
and depend on the original size, so these layouts need ``capture(..., images=...)``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .base import ImageLayout, LayoutContext, View, full_box, grid_view, register_layout


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


def tiled_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Views "tile rRcC" (1-based, row-major) and, with more than one tile, "global" per image."""
    if ctx.images is None:
        raise ValueError(
            f"{ctx.config.model_type} tiles each picture by its original size, which the processor outputs do not "
            "keep: pass the pictures, capture(..., images=[...])."
        )
    processor = ctx.processor
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
    layouts = []
    for image, run, (rows, cols) in zip(ctx.images, runs, grids, strict=True):
        width, height = image.size
        views: list[View] = []
        for k, part in enumerate(run.split(per_view)):
            if k == rows * cols:
                views.append(grid_view("global", part, side, side, full_box(image.size)))
                continue
            r, c = divmod(k, cols)
            box = (c * width / cols, r * height / rows, (c + 1) * width / cols, (r + 1) * height / rows)
            views.append(grid_view(f"tile r{r + 1}c{c + 1}", part, side, side, box))
        layouts.append(ImageLayout(views=tuple(views), size=image.size))
    return layouts


register_layout("internvl", tiled_layout)
register_layout("aya_vision", tiled_layout)
