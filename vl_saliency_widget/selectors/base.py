"""The Selector protocol (defined beside Trace, which calls it)."""

from __future__ import annotations

from ..core.trace import Selector

__all__ = ["Selector"]
