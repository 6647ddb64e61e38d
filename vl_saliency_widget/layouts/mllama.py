"""Mllama (Llama 3.2 Vision): the image reaches the text only through cross-attention layers.

The prompt holds a single ``<|image|>`` token per image; the cross-attention keys are the vision features, per
image ``max_num_tiles`` tiles of ``1 + (image_size / patch_size)^2`` features each (the tile's CLS first; the
vision model's pad-to-8 features are cut before the projector). A view's positions therefore index that key
axis. The processor resizes the picture to fit a canvas of tiles (keeping its aspect ratio), pads it on the
right and bottom, and cuts it row-major; ``aspect_ratio_ids`` name the canvas, an index (from 1) into the
image processor's supported (tiles high, tiles wide) arrangements.
"""

from __future__ import annotations

import sys
from typing import Any

from PIL import Image

from .base import ImageLayout, LayoutContext, grid_view, register_layout, register_pictures, unnormalize


def _image_processing_module(image_processor: Any) -> Any:
    module = sys.modules.get(type(image_processor).__module__)
    if module is None or not hasattr(module, "get_all_supported_aspect_ratios"):
        from transformers.models.mllama import image_processing_pil_mllama as module
    return module


def _arrangements(ctx: LayoutContext) -> list[tuple[int, int]]:
    """(tiles high, tiles wide) of each image, from ``aspect_ratio_ids``."""
    supported = _image_processing_module(ctx.processor.image_processor).get_all_supported_aspect_ratios(
        int(ctx.config.vision_config.max_num_tiles)
    )
    return [tuple(supported[int(i) - 1]) for i in ctx.inputs["aspect_ratio_ids"][0].tolist()]


def mllama_pictures(ctx: LayoutContext) -> list[Image.Image]:
    """The processed canvases, tiles stitched back (padding included)."""
    pixel_values = ctx.inputs["pixel_values"][0]  # [images, max_tiles, 3, tile, tile]
    tile = int(pixel_values.shape[-1])
    pictures = []
    for i, (tiles_h, tiles_w) in enumerate(_arrangements(ctx)):
        tiles = pixel_values[i, : tiles_h * tiles_w].reshape(tiles_h, tiles_w, -1, tile, tile)
        stitched = tiles.permute(2, 0, 3, 1, 4).reshape(-1, tiles_h * tile, tiles_w * tile)
        pictures.append(unnormalize(stitched, ctx.processor.image_processor))
    return pictures


def mllama_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Views "tile rRcC" (1-based, row-major) per image, positions on the cross-attention key axis."""
    vision = ctx.config.vision_config
    side = int(vision.image_size) // int(vision.patch_size)
    per_tile = side * side + 1
    max_tiles = int(vision.max_num_tiles)
    tile_px = int(vision.image_size)
    functions = _image_processing_module(ctx.processor.image_processor)
    arrangements = _arrangements(ctx)
    if len(arrangements) != int(ctx.image_positions.numel()):
        count = int(ctx.image_positions.numel())
        raise ValueError(f"aspect_ratio_ids describe {len(arrangements)} image(s), but the prompt holds {count}.")
    layouts = []
    for i, (tiles_h, tiles_w) in enumerate(arrangements):
        canvas_h, canvas_w = tiles_h * tile_px, tiles_w * tile_px
        if ctx.images is not None:
            width, height = ctx.images[i].size
            new_h, new_w = functions.get_image_size_fit_to_canvas(height, width, canvas_h, canvas_w, tile_px)
            sx, sy = width / int(new_w), height / int(new_h)
        else:
            width, height, sx, sy = canvas_w, canvas_h, 1.0, 1.0
        views = []
        for k in range(tiles_h * tiles_w):
            r, c = divmod(k, tiles_w)
            first = (i * max_tiles + k) * per_tile + 1
            box = (c * tile_px * sx, r * tile_px * sy, (c + 1) * tile_px * sx, (r + 1) * tile_px * sy)
            positions = ctx.image_positions.new_tensor(range(first, first + side * side))
            views.append(grid_view(f"tile r{r + 1}c{c + 1}", positions, side, side, box))
        layouts.append(ImageLayout(views=tuple(views), size=(int(width), int(height))))
    return layouts


register_layout("mllama", mllama_layout, cross_attention=True)
register_pictures("mllama", mllama_pictures)
