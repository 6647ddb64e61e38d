"""Selecting a generated token by regular expression."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ..core.trace import Trace

_SHOWN_TOKENS = 20


def _token_strings(trace: Trace) -> list[str]:
    strings = getattr(trace, "token_strings", None)
    if strings is not None:
        return list(strings)
    if trace.processor is None:
        raise ValueError("The trace has neither token_strings nor a processor to turn its token ids into text.")
    tokenizer = getattr(trace.processor, "tokenizer", trace.processor)
    return list(tokenizer.convert_ids_to_tokens(list(trace.token_ids)))


class ReSelector:
    """The first (or last) generated token whose string matches a regular expression.

    Tokens are matched as the tokenizer spells them, markers included (e.g. "▁cat" or "Ġcat"); ``re.search``
    finds the pattern anywhere in a token, ``require_exact_match=True`` needs the whole token to match.
    Only generated tokens are searched. Returns the index relative to ``trace.gen_start``.

    Args:
        pattern: regular expression.
        flags: ``re`` flags, e.g. ``re.IGNORECASE``.
        require_exact_match: match the whole token (``re.fullmatch``) instead of searching in it.
        select: "first" or "last" match.

    Raises:
        ValueError: no generated token matches (the message shows the pattern and some tokens).
    """

    def __init__(
        self,
        pattern: str,
        flags: int = 0,
        require_exact_match: bool = False,
        select: Literal["first", "last"] = "first",
    ) -> None:
        if select not in ("first", "last"):
            raise ValueError(f"select must be 'first' or 'last', got {select!r}.")
        self.pattern = re.compile(pattern, flags)
        self.flags = flags
        self.require_exact_match = require_exact_match
        self.select = select

    def __call__(self, trace: Trace, /) -> int:
        generated = _token_strings(trace)[trace.gen_start :]
        match = self.pattern.fullmatch if self.require_exact_match else self.pattern.search
        order = range(len(generated)) if self.select == "first" else range(len(generated) - 1, -1, -1)
        for i in order:
            if match(generated[i]):
                return i
        shown = generated[:_SHOWN_TOKENS]
        more = f" ... ({len(generated)} in all)" if len(generated) > _SHOWN_TOKENS else ""
        kind = "matches exactly" if self.require_exact_match else "contains a match for"
        raise ValueError(f"No generated token {kind} {self.pattern.pattern!r}; generated tokens: {shown}{more}")

    def __repr__(self) -> str:
        return (
            f"ReSelector({self.pattern.pattern!r}, flags={self.flags}, "
            f"require_exact_match={self.require_exact_match}, select={self.select!r})"
        )
