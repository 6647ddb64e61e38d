"""LLaVA-NeXT and LLaVA-OneVision (anyres): a base view of the whole picture, then the high-resolution tiles.

One run of image tokens per image: the base view (``image_size / patch_size`` squared, CLS dropped with the
"default" strategy), then the tiles (chosen by ``select_best_resolution`` over ``image_grid_pinpoints``) stitched
into one grid, the padding the processor added removed ("unpad"), with an ``image_newline`` feature after every
row. The newline features carry the image token id but are not cells. ``image_sizes`` gives the original
(height, width), so boxes are in original pixels even without ``images=``. OneVision shrinks a high-res grid
larger than ``anyres_max_N`` base grids, and keeps only the base view (plus one newline) of each image when a
prompt holds several.
"""

from __future__ import annotations

import math

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


def anyres_layout(ctx: LayoutContext, max_patches: int | None = None) -> list[ImageLayout]:
    """Views "high-res" and "base" per image of an anyres prompt (LLaVA-NeXT, LLaVA-OneVision).

    Args:
        max_patches: OneVision's ``anyres_max_N``: a high-res grid larger than N base grids (by more than 10%)
            is resized down by the model, ``int(rows // ratio) x int(cols // ratio)``.
    """
    config = ctx.config
    vision = config.vision_config
    extra = int(getattr(ctx.processor, "num_additional_image_tokens", 0) or 0)
    if extra - (1 if config.vision_feature_select_strategy == "default" else 0) != 0:
        raise ValueError(
            "This anyres model keeps a CLS feature per tile (vision_feature_select_strategy="
            f"{config.vision_feature_select_strategy!r} with {extra} additional token(s)); only patch grids are "
            "supported."
        )
    side = int(vision.image_size) // int(vision.patch_size)
    sizes = [(int(h), int(w)) for h, w in ctx.inputs["image_sizes"].tolist()]
    # Several images in one prompt: OneVision keeps only each one's base view (+ one newline).
    counts = ctx.inputs.get("batch_num_images")
    patched = [True] * len(sizes) if counts is None else [int(n) == 1 for n in counts.tolist() for _ in range(int(n))]
    shapes: list[tuple[int, int] | None] = []
    for (height, width), patch in zip(sizes, patched, strict=True):
        if not patch:
            shapes.append(None)
            continue
        tiles_h, tiles_w = get_anyres_image_grid_shape(
            [height, width], config.image_grid_pinpoints, int(vision.image_size)
        )
        rows, cols = unpadded_grid(tiles_h * side, tiles_w * side, height, width)
        if max_patches is not None:
            ratio = math.sqrt(rows * cols / (max_patches * side**2))
            if ratio > 1.1:
                rows, cols = int(rows // ratio), int(cols // ratio)
        shapes.append((rows, cols))
    runs = ctx.split_runs([side * side + (1 if s is None else s[0] * (s[1] + 1)) for s in shapes])
    layouts = []
    for i, (run, shape) in enumerate(zip(runs, shapes, strict=True)):
        height, width = sizes[i]
        size = ctx.frame_size(i, (width, height))
        box = full_box(size)
        base = grid_view("base", run[: side * side], side, side, box)
        if shape is None:
            layouts.append(ImageLayout(views=(base,), size=size, extra_positions=(int(run[-1]),)))
            continue
        rows, cols = shape
        high = run[side * side :].reshape(rows, cols + 1)
        views = (grid_view("high-res", high[:, :cols].reshape(-1), rows, cols, box), base)
        layouts.append(ImageLayout(views=views, size=size, extra_positions=tuple(high[:, cols].tolist())))
    return layouts


def llava_onevision_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """LLaVA-OneVision: anyres with the ``anyres_max_N`` resize of large high-res grids."""
    aspect = str(getattr(ctx.config, "vision_aspect_ratio", "anyres_max_9"))
    return anyres_layout(ctx, max_patches=int(aspect.removeprefix("anyres_max_")))


register_layout("llava_next", anyres_layout)
register_layout("llava_onevision", llava_onevision_layout)
