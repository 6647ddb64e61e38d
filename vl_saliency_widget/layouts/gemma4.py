"""Gemma 4: one grid of pooled soft tokens per image, its shape the picture's own.

``Gemma4Processor`` writes ``<|image>`` + ``<|image|>`` x n + ``<image|>``. The image processor resizes the picture
(aspect ratio kept) to multiples of ``patch_size * pooling_kernel_size`` and cuts it into patches row-major, giving
each its (x, y) in ``image_position_ids`` ([images, max_patches, 2], padding (-1, -1)). The vision pooler averages
each k x k block of patches (k = ``pooling_kernel_size``) into output slot ``x // k + (width / k) * (y // k)``, drops
the empty slots past the last, and the model scatters the features in order into the ``<|image|>`` embeddings: a
(height / k) x (width / k) grid of patches' blocks, row-major, n = its size.
"""

from __future__ import annotations

import torch
from PIL import Image

from .base import ImageLayout, LayoutContext, full_box, grid_view, register_layout, register_pictures, unnormalize


def _patch_grids(ctx: LayoutContext) -> list[tuple[int, int]]:
    """(rows, cols) of patches of each image, from ``image_position_ids``."""
    positions = ctx.inputs.get("image_position_ids")
    if positions is None:
        raise ValueError("Gemma 4 captures need the processor's image_position_ids: pass every processor output.")
    grids = []
    for image in positions:
        valid = image[(image != -1).all(dim=-1)]
        grids.append((int(valid[:, 1].max()) + 1, int(valid[:, 0].max()) + 1))
    return grids


def gemma4_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Layouts of a Gemma 4 prompt: one (patch rows / k) x (patch cols / k) grid per image."""
    vision = ctx.config.vision_config
    k, patch = int(vision.pooling_kernel_size), int(vision.patch_size)
    grids = [(rows // k, cols // k) for rows, cols in _patch_grids(ctx)]
    runs = ctx.split_runs([rows * cols for rows, cols in grids])
    layouts = []
    for i, (run, (rows, cols)) in enumerate(zip(runs, grids, strict=True)):
        size = ctx.frame_size(i, (cols * k * patch, rows * k * patch))
        layouts.append(ImageLayout(views=(grid_view("base", run, rows, cols, full_box(size)),), size=size))
    return layouts


def gemma4_pictures(ctx: LayoutContext) -> list[Image.Image]:
    """Rebuild the processed pictures from the row-major patches [images, max_patches, patch * patch * 3]."""
    patch = int(ctx.config.vision_config.patch_size)
    pictures = []
    for pixels, (rows, cols) in zip(ctx.inputs["pixel_values"], _patch_grids(ctx), strict=True):
        block = pixels[: rows * cols].reshape(rows, cols, patch, patch, -1)
        chw = block.permute(4, 0, 2, 1, 3).reshape(-1, rows * patch, cols * patch)
        pictures.append(unnormalize(chw.to(torch.float32), getattr(ctx.processor, "image_processor", None)))
    return pictures


register_layout("gemma4", gemma4_layout)
register_pictures("gemma4", gemma4_pictures)
