"""vl-saliency-widget: where a vision-language model looked when it produced each token."""

from .core.extractor import SaliencyExtractor
from .core.map import SaliencyMap
from .core.trace import Trace

__all__ = ["SaliencyExtractor", "SaliencyMap", "Trace"]
__version__ = "0.1.0"
