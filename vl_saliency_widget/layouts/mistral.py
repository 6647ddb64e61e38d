"""Mistral 3 and Pixtral-style towers: one grid per image, each row followed by a break token.

Each row of the image holds ``W / (patch * merge)`` ``[IMG]`` tokens followed by ``[IMG_BREAK]`` (the last one
is ``[IMG_END]``). The break tokens have their own ids, so the image positions are exactly the cells, row-major.
``image_sizes`` gives each processed picture's (height, width) in pixels.
"""

from __future__ import annotations

from .base import ImageLayout, LayoutContext, full_box, grid_view, register_layout


def mistral3_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Layouts of a Mistral 3 prompt, one (H / (patch * merge)) x (W / (patch * merge)) grid per image."""
    config = ctx.config
    step = int(config.vision_config.patch_size) * int(getattr(config, "spatial_merge_size", 1))
    sizes = [(int(h), int(w)) for h, w in ctx.inputs["image_sizes"].tolist()]
    grids = [(h // step, w // step) for h, w in sizes]
    runs = ctx.split_runs([rows * cols for rows, cols in grids])
    layouts = []
    for i, (run, (rows, cols), (height, width)) in enumerate(zip(runs, grids, sizes, strict=True)):
        size = ctx.frame_size(i, (width, height))
        layouts.append(ImageLayout(views=(grid_view("base", run, rows, cols, full_box(size)),), size=size))
    return layouts


register_layout("mistral3", mistral3_layout)
