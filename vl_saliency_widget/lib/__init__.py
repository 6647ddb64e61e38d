"""Saliency methods that combine a token's attention and gradient maps (TraceTransforms).

Use them as ``trace.map(token, mode=gradcam)``.
"""

from .cam import agcam, gradcam

__all__ = ["agcam", "gradcam"]
