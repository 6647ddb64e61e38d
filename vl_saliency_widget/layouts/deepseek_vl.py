"""DeepSeek-VL and DeepSeek-VL Hybrid: one square patch grid per image, over the picture padded to a square.

The image processor scales the picture so that its longer side is the square's (``size``; the Hybrid's
``high_res_size``), the shorter side ``round``-ed and at least ``min_size``, then pads it to a square with the
mean colour, centred (the padding before it ``(side - short) // 2`` pixels). The SigLIP tower cuts the square
into ``image_size / patch_size`` patches per side, one image token each, row-major; the prompt holds
``num_image_tokens`` ``<image_placeholder>`` per image, in one run.

The Hybrid's SAM tower sees the picture scaled and padded the same way on its larger square, of which the SigLIP
square is a plain resize; its features are resized and convolved down to the same grid and joined, cell by cell,
to the SigLIP features. So a cell is the same patch of the square for both towers.

With the original pictures, the views' boxes reach past the picture over the padding (cells there are off the
picture); without them, boxes are in pixels of the processed square.
"""

from __future__ import annotations

from typing import Any

from .base import Box, ImageLayout, LayoutContext, full_box, grid_view, register_layout


def _side(value: Any) -> int:
    height = value.get("height") if isinstance(value, dict) else getattr(value, "height", None)
    width = value.get("width") if isinstance(value, dict) else getattr(value, "width", None)
    if height is None or height != width:
        raise ValueError(f"DeepSeek-VL pads pictures to a square; its image processor's size is {value!r}.")
    return int(height)


def padded_square_box(size: tuple[int, int], side: int, min_size: int) -> Box:
    """The square a (width, height) picture is scaled and padded to, as a box in the picture's pixels.

    The same arithmetic as the image processor: the longer side scaled to ``side``, the shorter to
    ``max(round(short * side / long), min_size)``, then centred on a square of the longer one.
    """
    width, height = size
    scale = side / max(width, height)
    new_w, new_h = max(round(width * scale), min_size), max(round(height * scale), min_size)
    square = max(new_w, new_h)
    left = (square - new_w) // 2 if new_h > new_w else 0
    top = (square - new_h) // 2 if new_w > new_h else 0
    sx, sy = width / new_w, height / new_h
    return (-left * sx, -top * sy, (square - left) * sx, (square - top) * sy)


def deepseek_vl_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """One "base" view per image: the ``image_size / patch_size`` square grid over the padded square."""
    vision = ctx.config.vision_config
    side = int(vision.image_size) // int(vision.patch_size)
    pixel_values = ctx.inputs["pixel_values"]
    n_images = int(pixel_values.shape[0])
    runs = ctx.split_runs([side * side] * n_images)
    image_processor = getattr(ctx.processor, "image_processor", None)
    square = "high_res_size" if "high_res_pixel_values" in ctx.inputs else "size"
    layouts = []
    for i, run in enumerate(runs):
        size = ctx.frame_size(i, (int(pixel_values.shape[-1]), int(pixel_values.shape[-2])))
        box = full_box(size)
        if ctx.images is not None:
            if image_processor is None:
                raise ValueError("DeepSeek-VL's boxes on the original pictures need the processor's image processor.")
            if getattr(image_processor, "do_resize", True) and getattr(image_processor, "do_pad", True):
                side_px = _side(getattr(image_processor, square))
                box = padded_square_box(size, side_px, int(getattr(image_processor, "min_size", 1)))
        layouts.append(ImageLayout(views=(grid_view("base", run, side, side, box),), size=size))
    return layouts


register_layout("deepseek_vl", deepseek_vl_layout)
register_layout("deepseek_vl_hybrid", deepseek_vl_layout)
