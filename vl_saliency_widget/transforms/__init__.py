"""Transforms on SaliencyMaps: small pure callables that compose with ``>>``.

``from vl_saliency_widget import transforms as T`` then ``m >> T.normalize() >> T.Aggregate()``.
"""

from .functional import Abs, Normalize, ReLU, Sigmoid, abs, normalize, relu, sigmoid
from .layers import Aggregate, FirstNLayers, LastNLayers, Reduction, SelectHeads, SelectLayers
from .localization import LocalizationHeads
from .pipe import Chainable, ChainableFunction, Pipeline, TraceTransform, Transform, chainable
from .sinks import MaskSinks
from .spatial import Binarize, GaussianSmoothing, Upscale

__all__ = [
    "Abs",
    "Aggregate",
    "Binarize",
    "Chainable",
    "ChainableFunction",
    "FirstNLayers",
    "GaussianSmoothing",
    "LastNLayers",
    "LocalizationHeads",
    "MaskSinks",
    "Normalize",
    "Pipeline",
    "ReLU",
    "Reduction",
    "SelectHeads",
    "SelectLayers",
    "Sigmoid",
    "TraceTransform",
    "Transform",
    "Upscale",
    "abs",
    "chainable",
    "normalize",
    "relu",
    "sigmoid",
]
