"""CAM-style methods: weight attention (or its scores) by the positive part of the gradient."""

from __future__ import annotations

from ..core.map import SaliencyMap
from ..core.method import MethodInputs, Needs, TraceMethod
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


def agcam_reference(attn: SaliencyMap, grad: SaliencyMap) -> SaliencyMap:
    """AGCAM as the reference vl-saliency library computes it: ``relu(grad) * sigmoid(attn)`` on the post-softmax
    attention and its gradient.

    Attention lies in [0, 1], so ``sigmoid(attn)`` lies in [0.5, 0.73] and the map is close to ``relu(grad)``; the
    paper's method is :data:`agcam`.
    """
    return relu(grad) * sigmoid(attn)


class AGCAM(TraceMethod):
    """Attention-Guided CAM as the paper defines it (Leem & Seo, AAAI 2024, arXiv 2402.04563).

    Per layer and head, ``sigmoid(S) * relu(dy/dS)`` on the token's query row, where ``S`` are the pre-softmax
    attention scores (``q . k * scaling``, softcapped and masked as the model computes them) and ``dy/dS`` the
    gradient of the token's score with respect to them. The paper sums over layers and heads; ``.agg("sum",
    "sum")`` does that (the default mean differs by a constant factor).

    Returns [layers, heads, H, W]. Needs scores and gradients: ``SaliencyExtractor(..., methods=[lib.agcam])``.
    """

    needs = Needs(scores=True, gradients=True)
    name = "agcam"

    def compute(self, inputs: MethodInputs) -> SaliencyMap:
        return sigmoid(inputs.scores) * relu(inputs.score_grad)


agcam = AGCAM()
"""The paper's AGCAM (see :class:`AGCAM`)."""
