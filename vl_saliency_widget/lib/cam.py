"""CAM-style methods: weight attention by the positive part of its gradient."""

from __future__ import annotations

from ..core.map import SaliencyMap
from ..transforms.functional import relu, sigmoid


def gradcam(attn: SaliencyMap, grad: SaliencyMap) -> SaliencyMap:
    """Grad-CAM on attention: ``relu(grad) * attn``, elementwise.

    Args:
        attn: attention of the token to the image, [layers, heads, H, W].
        grad: gradient of the token's score with respect to that attention, same shape.

    Returns:
        [layers, heads, H, W]; aggregate with ``.agg()`` to plot.
    """
    return relu(grad) * attn


def agcam(attn: SaliencyMap, grad: SaliencyMap) -> SaliencyMap:
    """Attention-guided CAM as the reference vl-saliency computes it: ``relu(grad) * sigmoid(attn)``, elementwise.

    Args:
        attn: attention of the token to the image, [layers, heads, H, W].
        grad: gradient of the token's score with respect to that attention, same shape.

    Returns:
        [layers, heads, H, W]; aggregate with ``.agg()`` to plot.
    """
    return relu(grad) * sigmoid(attn)
