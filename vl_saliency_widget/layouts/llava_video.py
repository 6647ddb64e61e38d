"""LLaVA-NeXT-Video and Video-LLaVA: LLaVA models that also take videos; only their images are laid out.

LLaVA-NeXT-Video places an image's features exactly as LLaVA-NeXT (the same ``pack_image_features``: base view,
then the "anyres" tiles unpadded with a newline feature after every row), so it has LLaVA-NeXT's layout.
Video-LLaVA encodes an image with its own image tower and places it as LLaVA 1.5 (one patch grid of the centre crop,
CLS dropped with the "default" strategy), so it has LLaVA's layout. Its image processor names the pictures
``pixel_values_images`` unless called with ``return_legacy_image_output=False``.
"""

from __future__ import annotations

from .base import register_layout
from .llava import llava_layout
from .llava_next import anyres_layout

register_layout("llava_next_video", anyres_layout)
register_layout("video_llava", llava_layout)
