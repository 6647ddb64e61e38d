"""The Selector protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..core.trace import Trace


@runtime_checkable
class Selector(Protocol):
    """Picks one token of a trace.

    Returns the token's index relative to ``trace.gen_start``: 0 is the first generated token, negative
    values are prompt tokens. That is the index ``trace.map(token=...)`` takes.
    """

    def __call__(self, trace: Trace, /) -> int: ...
