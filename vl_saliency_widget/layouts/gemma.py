"""Gemma 3 and PaliGemma: one fixed square grid of image tokens per image.

Gemma 3: ``<start_of_image>`` + ``mm_tokens_per_image`` x ``<image_soft_token>`` + ``<end_of_image>``; the
vision patches are average-pooled to ``tokens_per_side = sqrt(mm_tokens_per_image)`` per side (the
multi-modal projector's own definition), row-major. With pan-and-scan the full picture comes first, then each
crop as one more such block.
PaliGemma: ``image_seq_length`` x ``<image>`` before the prompt; one token per vision patch, row-major.
"""

from __future__ import annotations

import math
from typing import Any

from .base import Box, ImageLayout, LayoutContext, full_box, grid_view, register_layout

_PAN_AND_SCAN = {
    "pan_and_scan_min_crop_size": 256,
    "pan_and_scan_max_num_crops": 4,
    "pan_and_scan_min_ratio_to_activate": 1.2,
}


def pan_and_scan_settings(processor: Any) -> dict[str, float]:
    """Gemma 3's pan-and-scan settings as the processor applies them.

    The processor's ``images_kwargs`` (class defaults, or what an instance set) win over the image processor's
    own attributes, which are usually None; transformers' defaults fill the rest.
    """
    image_processor = getattr(processor, "image_processor", None)
    settings: dict[str, float] = dict(_PAN_AND_SCAN)
    for source in (
        vars(image_processor) if image_processor is not None else {},
        getattr(processor, "images_kwargs", {}),
    ):
        settings |= {k: v for k, v in (source or {}).items() if k in _PAN_AND_SCAN and v is not None}
    return settings


def pan_and_scan_boxes(size: tuple[int, int], settings: dict[str, float]) -> list[Box]:
    """The crops Gemma 3's pan-and-scan cuts from a (width, height) picture, as boxes in its pixels, row-major.

    The same arithmetic as the image processor's ``pan_and_scan``: crops only when the aspect ratio reaches
    ``pan_and_scan_min_ratio_to_activate``, 2 to ``pan_and_scan_max_num_crops`` along the long side, none when a
    crop would be smaller than ``pan_and_scan_min_crop_size``.
    """
    width, height = size
    min_size = int(settings["pan_and_scan_min_crop_size"])
    max_crops = int(settings["pan_and_scan_max_num_crops"])
    long, short = max(width, height), min(width, height)
    if long / short < float(settings["pan_and_scan_min_ratio_to_activate"]):
        return []
    n = min(max_crops, max(2, min(math.floor(long / short + 0.5), math.floor(long / min_size))))
    crops_w, crops_h = (n, 1) if width >= height else (1, n)
    crop_w, crop_h = math.ceil(width / crops_w), math.ceil(height / crops_h)
    if min(crop_w, crop_h) < min_size:
        return []
    return [
        (float(x), float(y), float(min(x + crop_w, width)), float(min(y + crop_h, height)))
        for y in range(0, crop_h * crops_h, crop_h)
        for x in range(0, crop_w * crops_w, crop_w)
    ]


def gemma3_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Layouts of a Gemma 3 prompt: ``tokens_per_side`` squared pooled tokens per view.

    Each image is one "base" view of the whole picture, followed, with pan-and-scan, by one view per crop
    ("crop 1", ...). The processor does not return the crop counts, so they are recomputed from the original
    pictures: pan-and-scan prompts need ``capture(..., images=...)``.
    """
    tokens = int(ctx.config.mm_tokens_per_image)
    side = int(tokens**0.5)
    if side * side != tokens:
        raise ValueError(f"mm_tokens_per_image={tokens} is not a square; Gemma 3 pools to a square grid.")
    pixel_values = ctx.inputs["pixel_values"]
    n_views = int(pixel_values.shape[0])
    crops: list[list[Box]] = []
    if ctx.images is not None and len(ctx.images) != n_views:
        settings = pan_and_scan_settings(ctx.processor)
        crops = [pan_and_scan_boxes(image.size, settings) for image in ctx.images]
        if len(ctx.images) + sum(len(c) for c in crops) != n_views:
            raise ValueError(
                f"pixel_values hold {n_views} views for {len(ctx.images)} picture(s), which does not match "
                "pan-and-scan with the image processor's settings. Pass the pictures given to the processor."
            )
    if not crops:
        return _square_layouts(ctx, side)
    runs = ctx.split_runs([side * side] * n_views)
    layouts, start = [], 0
    for image, boxes in zip(ctx.images or [], crops, strict=True):
        views = [grid_view("base", runs[start], side, side, full_box(image.size))]
        views += [grid_view(f"crop {k}", runs[start + k], side, side, box) for k, box in enumerate(boxes, 1)]
        start += 1 + len(boxes)
        layouts.append(ImageLayout(views=tuple(views), size=image.size))
    return layouts


def _square_layouts(ctx: LayoutContext, side: int) -> list[ImageLayout]:
    pixel_values = ctx.inputs["pixel_values"]
    if pixel_values.ndim != 4:
        raise ValueError(f"pixel_values has shape {tuple(pixel_values.shape)}; expected [images, 3, H, W].")
    n_images = int(pixel_values.shape[0])
    runs = ctx.split_runs([side * side] * n_images)
    height, width = int(pixel_values.shape[-2]), int(pixel_values.shape[-1])
    layouts = []
    for i, run in enumerate(runs):
        size = ctx.frame_size(i, (width, height))
        layouts.append(ImageLayout(views=(grid_view("base", run, side, side, full_box(size)),), size=size))
    return layouts


def paligemma_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Layouts of a PaliGemma prompt: one token per vision patch."""
    vision = ctx.config.vision_config
    side = int(vision.image_size) // int(vision.patch_size)
    return _square_layouts(ctx, side)


register_layout("gemma3", gemma3_layout)
register_layout("paligemma", paligemma_layout)
