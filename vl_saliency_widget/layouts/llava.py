"""LLaVA 1.5: ``<image>`` expanded to one token per vision patch (plus the CLS feature with the "full" strategy).

The number of tokens is (H / patch) * (W / patch) of the processed frame, plus the processor's
``num_additional_image_tokens`` (1 for a CLIP tower's CLS), minus 1 with ``vision_feature_select_strategy ==
"default"`` (which drops the first feature, the CLS). The processor resizes the shortest edge and crops the centre,
so a view's box is the cropped part of the original picture.
"""

from __future__ import annotations

from typing import Any

from .base import Box, ImageLayout, LayoutContext, full_box, grid_view, register_layout


def _size_dict(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else getattr(value, key, None)


def center_crop_box(size: tuple[int, int], image_processor: Any) -> Box:
    """The part of a (width, height) picture that survives a CLIP-style resize and centre crop, in its pixels.

    The processor resizes the shortest edge to ``size["shortest_edge"]`` (the long edge to
    ``int(shortest * long / short)``), then crops ``crop_size`` from the centre.
    """
    width, height = size
    shortest = _size_dict(getattr(image_processor, "size", None), "shortest_edge")
    crop = getattr(image_processor, "crop_size", None)
    if not shortest or not getattr(image_processor, "do_center_crop", False) or crop is None:
        return full_box(size)
    if width <= height:
        new_w, new_h = int(shortest), int(shortest * height / width)
    else:
        new_w, new_h = int(shortest * width / height), int(shortest)
    crop_h, crop_w = int(_size_dict(crop, "height")), int(_size_dict(crop, "width"))
    top, left = (new_h - crop_h) // 2, (new_w - crop_w) // 2
    sx, sy = width / new_w, height / new_h
    return (left * sx, top * sy, (left + crop_w) * sx, (top + crop_h) * sy)


def llava_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Layouts of a LLaVA prompt: a patch grid per image; a leading CLS feature is not a cell."""
    pixel_values = ctx.inputs["pixel_values"]
    patch = int(ctx.config.vision_config.patch_size)
    height, width = int(pixel_values.shape[-2]), int(pixel_values.shape[-1])
    rows, cols = height // patch, width // patch
    extra = int(getattr(ctx.processor, "num_additional_image_tokens", 1)) if ctx.processor is not None else 1
    strategy = ctx.config.vision_feature_select_strategy
    leading = extra - (1 if strategy == "default" else 0)
    if leading < 0:
        raise ValueError(
            "This LLaVA drops its first vision feature (vision_feature_select_strategy='default') but its tower has "
            "no CLS token (num_additional_image_tokens=0), so the image tokens do not form a grid."
        )
    n_images = int(pixel_values.shape[0])
    runs = ctx.split_runs([rows * cols + leading] * n_images)
    image_processor = getattr(ctx.processor, "image_processor", None)
    layouts = []
    for i, run in enumerate(runs):
        size = ctx.frame_size(i, (width, height))
        box = full_box(size) if ctx.images is None else center_crop_box(size, image_processor)
        view = grid_view("base", run[leading:], rows, cols, box)
        layouts.append(ImageLayout(views=(view,), size=size, extra_positions=tuple(run[:leading].tolist())))
    return layouts


register_layout("llava", llava_layout)
