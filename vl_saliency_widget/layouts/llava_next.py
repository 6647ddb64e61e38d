"""LLaVA-NeXT (anyres): per image, a base view of the whole picture, then the high-resolution tiles stitched.

One run of image tokens per image: the base view (``image_size / patch_size`` squared, CLS dropped with the
"default" strategy), then the tiles (chosen by ``select_best_resolution`` over ``image_grid_pinpoints``) stitched
into one grid, the padding the processor added removed ("unpad"), with an ``image_newline`` feature after every
row. The newline features carry the image token id but are not cells. ``image_sizes`` gives the original
(height, width), so boxes are in original pixels even without ``images=``.
"""

from __future__ import annotations

from transformers.models.llava_next.modeling_llava_next import get_anyres_image_grid_shape

from .base import ImageLayout, LayoutContext, full_box, grid_view, register_layout


def unpadded_grid(rows: int, cols: int, height: int, width: int) -> tuple[int, int]:
    """(rows, cols) left of a ``rows x cols`` feature grid once the letterbox padding of an (height, width)
    picture is cut off, with the same rounding as the model's ``unpad_image``."""
    if width / height > cols / rows:
        new_rows = int(round(height * (cols / width), 7))
        rows -= 2 * ((rows - new_rows) // 2)
    else:
        new_cols = int(round(width * (rows / height), 7))
        cols -= 2 * ((cols - new_cols) // 2)
    return rows, cols


def llava_next_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Layouts of a LLaVA-NeXT prompt: views "base" and "high-res" per image."""
    config = ctx.config
    vision = config.vision_config
    if config.vision_feature_select_strategy != "default":
        raise ValueError("Only LLaVA-NeXT's 'default' vision_feature_select_strategy (CLS dropped) is supported.")
    side = int(vision.image_size) // int(vision.patch_size)
    shapes = []
    for height, width in ctx.inputs["image_sizes"].tolist():
        tiles_h, tiles_w = get_anyres_image_grid_shape(
            [height, width], config.image_grid_pinpoints, int(vision.image_size)
        )
        shapes.append(unpadded_grid(tiles_h * side, tiles_w * side, int(height), int(width)))
    runs = ctx.split_runs([side * side + rows * (cols + 1) for rows, cols in shapes])
    layouts = []
    for i, (run, (rows, cols)) in enumerate(zip(runs, shapes, strict=True)):
        height, width = ctx.inputs["image_sizes"][i].tolist()
        size = ctx.frame_size(i, (int(width), int(height)))
        box = full_box(size)
        high = run[side * side :].reshape(rows, cols + 1)
        views = (
            grid_view("high-res", high[:, :cols].reshape(-1), rows, cols, box),
            grid_view("base", run[: side * side], side, side, box),
        )
        layouts.append(ImageLayout(views=views, size=size, extra_positions=tuple(high[:, cols].tolist())))
    return layouts


register_layout("llava_next", llava_next_layout)
