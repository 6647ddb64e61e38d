"""Qwen3.5, Qwen3.5-MoE and Qwen3-VL-MoE: Qwen3-VL's image path, so Qwen3-VL's layout.

Each model places its image features exactly as Qwen3-VL does: ``Qwen3VLProcessor`` writes
``<|vision_start|>`` + ``<|image_pad|>`` x (t * h * w / merge^2) + ``<|vision_end|>`` from ``image_grid_thw``, the
vision tower's merger emits the merged 2 x 2 blocks row-major, and the model scatters them in order into the
``<|image_pad|>`` embeddings (``masked_scatter``). Only the decoders differ (hybrid linear attention, experts), which
moves no image token.
"""

from __future__ import annotations

from .base import register_layout, register_pictures
from .qwen import qwen_vl_layout, qwen_vl_pictures

for _name in ("qwen3_5", "qwen3_5_moe", "qwen3_vl_moe"):
    register_layout(_name, qwen_vl_layout)
    register_pictures(_name, qwen_vl_pictures)
