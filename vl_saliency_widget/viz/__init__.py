"""Static visualisation: matplotlib overlays of saliency maps and HTML token strips."""

from .overlay import overlay, show_figure
from .tokens import render_token_ids

__all__ = ["overlay", "render_token_ids", "show_figure"]
