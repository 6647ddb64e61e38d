"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL: dynamic resolution.

``<|vision_start|>`` + ``<|image_pad|>`` x (t * h * w / merge^2) + ``<|vision_end|>``, where (t, h, w) is the
image's row of ``image_grid_thw`` in patches and merge is ``spatial_merge_size``. The merger consumes
merge x merge blocks of patches, so the tokens form an (h / merge) x (w / merge) grid, row-major.
"""

from __future__ import annotations

from PIL import Image

from .base import ImageLayout, LayoutContext, full_box, grid_view, register_layout, register_pictures, unnormalize


def _merge_size(ctx: LayoutContext) -> int:
    return int(ctx.config.vision_config.spatial_merge_size)


def qwen_vl_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Layouts of a Qwen2-VL, Qwen2.5-VL or Qwen3-VL prompt, one merged grid per image from ``image_grid_thw``."""
    grid_thw = ctx.inputs.get("image_grid_thw")
    if grid_thw is None:
        raise ValueError(
            "Qwen-VL captures need the processor's image_grid_thw: pass every processor output to capture."
        )
    merge = _merge_size(ctx)
    patch = int(ctx.config.vision_config.patch_size)
    grids = [(int(t), int(h) // merge, int(w) // merge) for t, h, w in grid_thw.tolist()]
    for t, _, _ in grids:
        if t != 1:
            raise ValueError(f"An image with {t} temporal patches is a video; only images are supported.")
    runs = ctx.split_runs([rows * cols for _, rows, cols in grids])
    layouts = []
    for i, (run, (_, rows, cols)) in enumerate(zip(runs, grids, strict=True)):
        size = ctx.frame_size(i, (cols * merge * patch, rows * merge * patch))
        layouts.append(ImageLayout(views=(grid_view("base", run, rows, cols, full_box(size)),), size=size))
    return layouts


def qwen_vl_pictures(ctx: LayoutContext) -> list[Image.Image]:
    """Rebuild the processed pictures from Qwen's flattened patches [patches, C * temporal * patch * patch]."""
    pixel_values = ctx.inputs["pixel_values"]
    vision = ctx.config.vision_config
    merge, patch = _merge_size(ctx), int(vision.patch_size)
    temporal = int(vision.temporal_patch_size)
    pictures = []
    offset = 0
    for t, h, w in ctx.inputs["image_grid_thw"].tolist():
        n = t * h * w
        block = pixel_values[offset : offset + n].reshape(
            t, h // merge, w // merge, merge, merge, -1, temporal, patch, patch
        )
        offset += n
        # [C, h/merge, merge, patch, w/merge, merge, patch] of the first frame, first temporal copy
        chw = block[0, :, :, :, :, :, 0].permute(4, 0, 2, 5, 1, 3, 6).reshape(-1, h * patch, w * patch)
        pictures.append(unnormalize(chw, getattr(ctx.processor, "image_processor", None)))
    return pictures


for _name in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl"):
    register_layout(_name, qwen_vl_layout)
    register_pictures(_name, qwen_vl_pictures)
