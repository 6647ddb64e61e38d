"""LLaVA 1.5: ``<image>`` expanded to one token per vision patch (plus the CLS feature with the "full" strategy).

The number of tokens is (H / patch) * (W / patch) of the processed frame, plus the processor's
``num_additional_image_tokens`` (1 for a CLIP tower's CLS), minus 1 with ``vision_feature_select_strategy ==
"default"`` (which drops the first feature, the CLS).
"""

from __future__ import annotations

from .base import ImageLayout, LayoutContext, full_box, grid_view, register_layout


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
    layouts = []
    for i, run in enumerate(runs):
        size = ctx.frame_size(i, (width, height))
        view = grid_view("base", run[leading:], rows, cols, full_box(size))
        layouts.append(ImageLayout(views=(view,), size=size, extra_positions=tuple(run[:leading].tolist())))
    return layouts


register_layout("llava", llava_layout)
