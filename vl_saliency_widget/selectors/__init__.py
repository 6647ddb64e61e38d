"""Selectors pick a token of a trace: ``trace.map(selector)`` (prompt tokens included, unlike a plain index).

Each returns the token's index relative to ``trace.gen_start`` (0 = first generated token; negative = prompt).
"""

from .base import Selector
from .indexing import AbsoluteIndex, IndexFromEnd
from .pattern import ReSelector

__all__ = ["AbsoluteIndex", "IndexFromEnd", "ReSelector", "Selector"]
