"""Image layouts per architecture family, and the registry that picks one by ``config.model_type``."""

from . import gemma, glm4v, idefics2, idefics3, llava, llava_next, mistral, mllama, qwen, qwen_variants, tiled
from .base import (
    Box,
    ImageLayout,
    LayoutContext,
    LayoutFn,
    View,
    layout_for,
    processed_pictures,
    register_layout,
    register_pictures,
    registered_model_types,
    uses_cross_attention,
)

__all__ = [
    "Box",
    "ImageLayout",
    "LayoutContext",
    "LayoutFn",
    "View",
    "gemma",
    "glm4v",
    "idefics2",
    "idefics3",
    "layout_for",
    "llava",
    "llava_next",
    "mistral",
    "mllama",
    "processed_pictures",
    "qwen",
    "qwen_variants",
    "register_layout",
    "register_pictures",
    "registered_model_types",
    "tiled",
    "uses_cross_attention",
]
