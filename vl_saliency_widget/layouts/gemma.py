"""Gemma 3 and PaliGemma: one fixed square grid of image tokens per image.

Gemma 3: ``<start_of_image>`` + ``mm_tokens_per_image`` x ``<image_soft_token>`` + ``<end_of_image>``; the
vision patches are average-pooled to ``tokens_per_side = sqrt(mm_tokens_per_image)`` per side (the
multi-modal projector's own definition), row-major.
PaliGemma: ``image_seq_length`` x ``<image>`` before the prompt; one token per vision patch, row-major.
"""

from __future__ import annotations

from .base import ImageLayout, LayoutContext, full_box, grid_view, register_layout


def _square_layouts(ctx: LayoutContext, side: int) -> list[ImageLayout]:
    pixel_values = ctx.inputs["pixel_values"]
    if pixel_values.ndim != 4:
        raise ValueError(
            f"pixel_values has shape {tuple(pixel_values.shape)}; expected [images, 3, H, W]. Pan-and-scan crops "
            "are not supported yet: process the image with do_pan_and_scan=False."
        )
    n_images = int(pixel_values.shape[0])
    runs = ctx.split_runs([side * side] * n_images)
    height, width = int(pixel_values.shape[-2]), int(pixel_values.shape[-1])
    layouts = []
    for i, run in enumerate(runs):
        size = ctx.frame_size(i, (width, height))
        layouts.append(ImageLayout(views=(grid_view("base", run, side, side, full_box(size)),), size=size))
    return layouts


def gemma3_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Layouts of a Gemma 3 prompt: ``tokens_per_side`` squared pooled tokens per image."""
    tokens = int(ctx.config.mm_tokens_per_image)
    side = int(tokens**0.5)
    if side * side != tokens:
        raise ValueError(f"mm_tokens_per_image={tokens} is not a square; Gemma 3 pools to a square grid.")
    return _square_layouts(ctx, side)


def paligemma_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """Layouts of a PaliGemma prompt: one token per vision patch."""
    vision = ctx.config.vision_config
    side = int(vision.image_size) // int(vision.patch_size)
    return _square_layouts(ctx, side)


register_layout("gemma3", gemma3_layout)
register_layout("paligemma", paligemma_layout)
