"""Core objects: SaliencyMap, Trace (made from a TraceData record), SaliencyExtractor."""

from .extractor import SaliencyExtractor
from .map import SaliencyMap
from .record import TraceData
from .trace import Trace

__all__ = ["SaliencyExtractor", "SaliencyMap", "Trace", "TraceData"]
