"""Core objects: SaliencyMap, Trace, SaliencyExtractor."""

from .extractor import SaliencyExtractor
from .map import SaliencyMap
from .trace import Trace

__all__ = ["SaliencyExtractor", "SaliencyMap", "Trace"]
