"""A token sequence as an HTML strip: prompt and generated tokens, with ids and positions in tooltips."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any, Literal, overload

import torch

STAND_INS = {"Ġ": " ", "▁": " ", "Ċ": "\n", "ĉ": "\t", "<0x0A>": "\n", "<0x09>": "\t"}
"""How tokenizers spell whitespace: byte-level BPE (GPT-2 style) "Ġ", "Ċ", "ĉ"; SentencePiece "▁" and its byte
tokens. The one table for the HTML strip here and the widget's strip (``display_text``, sent to the view)."""

_SPACE_MARKERS = tuple(k for k, v in STAND_INS.items() if v == " ")
_STAND_IN = re.compile("|".join(re.escape(k) for k in STAND_INS))
_NEWLINE_TOKEN = re.compile(
    "["
    + "".join(_SPACE_MARKERS)
    + "]*(?:"
    + "|".join(re.escape(k) for k, v in STAND_INS.items() if v == "\n")
    + r"|\n|\\n)+"
)
"""A token made of line breaks: a real one, a tokenizer's stand-in for one, or an escaped backslash-n."""


def display_text(token: str) -> str:
    """How a tokenizer's spelling of a token reads: its stand-in characters back to spaces, newlines and tabs."""
    return _STAND_IN.sub(lambda match: STAND_INS[match.group(0)], token)


_STRIP_STYLE = "font-family: 'JetBrains Mono', 'Fira Code', 'Courier New', monospace; line-height: 1.9;"
_TOKEN_STYLE = "display: inline-block; margin: 1px; padding: 0 2px; border-bottom: 1px solid #999; white-space: pre;"
_PROMPT_STYLE = "background-color: #f3f3f3;"
_GENERATED_STYLE = "background-color: #e6f7ea;"
_MARKER_STYLE = "opacity: 0.4;"
_SPECIAL_STYLE = "opacity: 0.55;"


class KeptTokens:
    """A tokenizer stand-in that spells a sequence's own token strings (a trace read from a file has no processor).

    Args:
        token_ids, token_strings, special_mask: per position, the id, its spelling and whether it is special.
    """

    def __init__(self, token_ids: Sequence[int], token_strings: Sequence[str], special_mask: Sequence[bool]) -> None:
        self._strings = dict(zip(token_ids, token_strings, strict=True))
        self.all_special_ids = [i for i, special in zip(token_ids, special_mask, strict=True) if special]

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self._strings[i] for i in ids]


def _is_newline(token: str) -> bool:
    """True for tokens made of line breaks (after an optional space marker), in any tokenizer's spelling."""
    return _NEWLINE_TOKEN.fullmatch(token) is not None


def _token_html(token: str, special: bool) -> str:
    """The visible, escaped text of one token; a leading space marker is shown faded, line breaks as ↵."""
    marker = ""
    if token[:1] in _SPACE_MARKERS and len(token) > 1:
        marker = f'<span style="{_MARKER_STYLE}">{html.escape(token[0])}</span>'
        token = token[1:]
    text = html.escape(token).replace("\n", "↵")
    if special:
        text = f'<span style="{_SPECIAL_STYLE}">{text}</span>'
    return marker + text


def _ids_list(token_ids: Sequence[int] | torch.Tensor) -> list[int]:
    if isinstance(token_ids, torch.Tensor):
        if token_ids.dim() == 2 and token_ids.shape[0] == 1:
            token_ids = token_ids[0]
        if token_ids.dim() != 1:
            raise ValueError(
                f"token_ids must be a sequence [seq] or a batch of one [1, seq], got {list(token_ids.shape)}."
            )
        return [int(i) for i in token_ids.tolist()]
    return [int(i) for i in token_ids]


@overload
def render_token_ids(
    token_ids: Sequence[int] | torch.Tensor,
    processor: Any,
    return_html: Literal[True],
    gen_start: int = ...,
    skip_tokens: int | Sequence[int] | None = ...,
    only_number_generated: bool = ...,
) -> str: ...


@overload
def render_token_ids(
    token_ids: Sequence[int] | torch.Tensor,
    processor: Any,
    return_html: Literal[False] = ...,
    gen_start: int = ...,
    skip_tokens: int | Sequence[int] | None = ...,
    only_number_generated: bool = ...,
) -> None: ...


@overload
def render_token_ids(
    token_ids: Sequence[int] | torch.Tensor,
    processor: Any,
    return_html: bool,
    gen_start: int = ...,
    skip_tokens: int | Sequence[int] | None = ...,
    only_number_generated: bool = ...,
) -> str | None: ...


def render_token_ids(
    token_ids: Sequence[int] | torch.Tensor,
    processor: Any,
    return_html: bool = False,
    gen_start: int = 0,
    skip_tokens: int | Sequence[int] | None = None,
    only_number_generated: bool = False,
) -> str | None:
    """Render a token sequence as HTML, one box per token.

    Prompt tokens (positions before ``gen_start``) and generated tokens get different backgrounds, special
    tokens are dimmed, a leading "▁"/"Ġ" space marker is faded, and a line break follows newline tokens.
    The tooltip gives the token, its id and its position. All token text is HTML-escaped.

    Args:
        token_ids: ids of the whole sequence, [seq] or [1, seq].
        processor: a processor with a ``tokenizer`` attribute, or a tokenizer (``convert_ids_to_tokens``).
        return_html: return the HTML string instead of displaying it.
        gen_start: position of the first generated token.
        skip_tokens: token ids left out of the strip (e.g. the image placeholder token); positions still count them.
        only_number_generated: tooltips give generated tokens' positions relative to ``gen_start``, and none
            for prompt tokens.

    Returns:
        The HTML with ``return_html=True``; otherwise None, after displaying it in IPython or printing it.
    """
    ids = _ids_list(token_ids)
    tokenizer = getattr(processor, "tokenizer", processor)
    tokens = ["" if t is None else str(t) for t in tokenizer.convert_ids_to_tokens(ids)]
    special_ids = set(getattr(tokenizer, "all_special_ids", None) or [])
    skipped = {skip_tokens} if isinstance(skip_tokens, int) else set(skip_tokens or [])

    parts = [f'<div class="vlsw-tokens" style="{_STRIP_STYLE}">']
    for position, (token, token_id) in enumerate(zip(tokens, ids, strict=True)):
        if token_id in skipped:
            continue
        generated = position >= gen_start
        tooltip = f"Token: {token!r} (ID: {token_id})"
        if not only_number_generated:
            tooltip += f"\nIndex: {position}"
        elif generated:
            tooltip += f"\nIndex: {position - gen_start}"
        background = _GENERATED_STYLE if generated else _PROMPT_STYLE
        parts.append(
            f'<span style="{_TOKEN_STYLE} {background}" title="{html.escape(tooltip, quote=True)}">'
            f"{_token_html(token, token_id in special_ids)}</span>"
        )
        if _is_newline(token):
            parts.append("<br>")
    parts.append("</div>")
    out = "".join(parts)

    if return_html:
        return out
    _display_html(out)
    return None


def _display_html(markup: str) -> None:
    """Show HTML in a running IPython (notebook) session, or print it elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        print(markup)
        return
    if get_ipython() is None:
        print(markup)
    else:
        display(HTML(markup))
