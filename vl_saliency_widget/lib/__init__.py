"""Saliency methods: ``trace.map(token, mode=method)``.

Plain functions ``fn(attn, grad)`` (the reference library's signature) and :class:`~vl_saliency_widget.core.method.
TraceMethod` objects that declare what they need; list the latter in ``SaliencyExtractor(..., methods=[...])``.
"""

from ..core.method import LayerMatrices, Method, MethodInputs, Needs, TraceMethod
from .cam import AGCAM, agcam, agcam_reference, gradcam
from .compare import difference
from .heads import HeadRanking, rank_localization_heads
from .perturbation import Occlusion, Rise, occlusion, rise
from .propagation import Relevancy, Rollout, relevancy, relevancy_row, rollout, rollout_row

METHODS: dict[str, Method] = {
    "gradcam": gradcam,
    "agcam": agcam,
    "agcam_reference": agcam_reference,
    "relevancy": relevancy,
    "rollout": rollout,
    "occlusion": occlusion,
    "rise": rise,
}
"""Every built-in method by name (the widget's method menu offers those the trace can run)."""

__all__ = [
    "AGCAM",
    "METHODS",
    "HeadRanking",
    "LayerMatrices",
    "MethodInputs",
    "Needs",
    "Occlusion",
    "Relevancy",
    "Rise",
    "Rollout",
    "TraceMethod",
    "agcam",
    "agcam_reference",
    "difference",
    "gradcam",
    "occlusion",
    "rank_localization_heads",
    "relevancy",
    "relevancy_row",
    "rise",
    "rollout",
    "rollout_row",
]
