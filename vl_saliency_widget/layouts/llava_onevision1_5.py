"""LLaVA-OneVision-1.5: Qwen2-VL's image placeholders and patch order, so Qwen-VL's layout.

The processor (Qwen2-VL's image processor) writes ``<|vision_start|>`` + ``<|image_pad|>`` x (h * w / merge^2) +
``<|vision_end|>`` for an image of ``image_grid_thw`` (1, h, w) patches, in spatial-merge order. The RiceViT tower
prepends a CLS feature to each picture's patches and drops it again before the merger, which folds each
merge x merge block into one image token: an (h / merge) x (w / merge) grid, row-major, as Qwen-VL's. The
pictures are rebuilt as Qwen-VL's, with the image processor's ``temporal_patch_size`` (1 for this tower, which
embeds one frame per patch and whose config has no temporal size).
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

from PIL import Image

from .base import LayoutContext, register_layout, register_pictures
from .qwen import qwen_vl_layout, qwen_vl_pictures


def llava_onevision1_5_pictures(ctx: LayoutContext) -> list[Image.Image]:
    """Qwen-VL's rebuild of the processed pictures, with the image processor's frames per patch."""
    vision = ctx.config.vision_config
    image_processor = getattr(ctx.processor, "image_processor", None)
    temporal = int(getattr(image_processor, "temporal_patch_size", None) or 1)
    config = SimpleNamespace(
        model_type=ctx.config.model_type,
        vision_config=SimpleNamespace(
            spatial_merge_size=vision.spatial_merge_size, patch_size=vision.patch_size, temporal_patch_size=temporal
        ),
    )
    return qwen_vl_pictures(dataclasses.replace(ctx, config=config))


register_layout("llava_onevision1_5", qwen_vl_layout)
register_pictures("llava_onevision1_5", llava_onevision1_5_pictures)
