"""Selectors by position."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.trace import Trace


class AbsoluteIndex:
    """The token at position ``index`` of the whole sequence (prompt and generated tokens).

    Returns ``index - trace.gen_start``, which is negative for a prompt token.

    Raises:
        ValueError: ``index`` is negative, or past the end of the trace's sequence.
    """

    def __init__(self, index: int) -> None:
        if index < 0:
            raise ValueError(f"AbsoluteIndex needs a position >= 0 in the sequence, got {index}.")
        self.index = index

    def __call__(self, trace: Trace, /) -> int:
        length = len(trace.token_ids)
        if self.index >= length:
            raise ValueError(f"AbsoluteIndex({self.index}) is past the end of the trace's {length} tokens.")
        return self.index - trace.gen_start

    def __repr__(self) -> str:
        return f"AbsoluteIndex({self.index})"


class IndexFromEnd:
    """The ``offset``-th token from the end: ``IndexFromEnd(1)`` is the last generated token.

    Returns ``trace.total_generated_tokens - offset``.

    Raises:
        ValueError: ``offset`` < 1, or it reaches before the start of the sequence.
    """

    def __init__(self, offset: int) -> None:
        if offset < 1:
            raise ValueError(f"IndexFromEnd needs offset >= 1 (1 is the last token), got {offset}.")
        self.offset = offset

    def __call__(self, trace: Trace, /) -> int:
        length = trace.gen_start + trace.total_generated_tokens
        if self.offset > length:
            raise ValueError(f"IndexFromEnd({self.offset}) reaches before the start of the trace's {length} tokens.")
        return trace.total_generated_tokens - self.offset

    def __repr__(self) -> str:
        return f"IndexFromEnd({self.offset})"
