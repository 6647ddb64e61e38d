"""The kernel's index of a run's summary: every sortable column as one array over the rows, and the order of the
rows the gallery shows (filtered, then sorted), computed over all rows at once.

Which columns: every field of the summary rows whose values are numbers, booleans (0 and 1), strings, lists of
strings (joined with spaces) or lists of numbers with one value per answer token (``pointing_<method>``,
``energy_<method>``...), and one level of nested dicts (``timing.capture``). Nested lists (``top_<method>``,
``grid``, ``box``) and the answer's token positions and special flags are left out. A column whose rows mix numbers
and strings is text.

The rules, which ``js/galleryorder.ts`` follows for an exported page:

- a per-token column reads, for each row, the value of its first answer token (``"first"``), or the mean or the
  max over its answer tokens that are not special tokens (all of them when every one is special);
- missing values (null, NaN, a failed sample's missing scores) come last whichever the direction; equal values keep
  the dataset order; text compares lower-cased (``str.lower``), code point by code point;
- a text filter keeps the rows whose lower-cased text contains the lower-cased ``text``; a range filter keeps the
  rows whose value is in ``[min, max]`` (either bound may be None), never a missing one; every filter must hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

TOKEN_REDUCTIONS: tuple[str, ...] = ("first", "mean", "max")
"""How a per-token value or map is read for a sample: its first answer token, or the mean or the max over the
answer's tokens that are not special tokens."""

ColumnKind = Literal["number", "text"]

STRUCTURAL = frozenset({"positions", "special"})
"""Row fields that say where the answer's tokens are, not anything to sort by."""


@dataclass(frozen=True)
class Column:
    """A sortable column of the summary.

    Attributes:
        name: the row's field (``timing.capture`` for a field of a nested dict).
        kind: "number" (sorted by value, filtered by a range) or "text" (sorted by lower-cased text, filtered by
            what it contains).
        per_token: a list of one number per answer token, read through the token reduction.
    """

    name: str
    kind: ColumnKind
    per_token: bool = False

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "per_token": self.per_token}


@dataclass(frozen=True)
class TextFilter:
    """Keep the rows whose ``column`` contains ``text`` (case-insensitive)."""

    column: str
    text: str


@dataclass(frozen=True)
class RangeFilter:
    """Keep the rows whose ``column`` is in ``[low, high]`` (None: unbounded); missing values never."""

    column: str
    low: float | None = None
    high: float | None = None


Filter = TextFilter | RangeFilter


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))  # bool is an int: a flag sorts as 0 and 1


def _flatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with each dict field spread into ``field.key`` entries (one level)."""
    flat: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, Mapping):
            flat |= {f"{name}.{key}": item for key, item in value.items() if not isinstance(item, (Mapping, list))}
        else:
            flat[name] = value
    return flat


def _kind(values: list[Any]) -> tuple[ColumnKind, bool] | None:
    """The kind of a column from its rows' values (None left out), or None when it cannot be sorted."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(_is_number(v) for v in present):
        return "number", False
    if all(isinstance(v, list) for v in present):
        items = [item for v in present for item in v if item is not None]
        if all(_is_number(item) for item in items) and items:
            return "number", True
        if all(isinstance(item, str) for item in items):
            return "text", False
        return None
    if all(_is_number(v) or isinstance(v, str) for v in present):
        return "text", False
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


def _number(value: Any) -> float:
    if value is None or isinstance(value, str):
        return math.nan
    number = float(value)
    return number if math.isfinite(number) else math.nan


class SummaryIndex:
    """Every sortable column of ``rows`` (summary rows, dataset order) as an array, and the gallery's order.

    Numbers are float64 [rows] with NaN where a row has none; text is kept as it reads and lower-cased; per-token
    columns are reduced once per token reduction, when first asked for.
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        flat = [_flatten(row) for row in rows]
        self.size = len(flat)
        names = list(dict.fromkeys(name for row in flat for name in row))
        self.columns: dict[str, Column] = {}
        self._numbers: dict[str, np.ndarray] = {}
        self._lists: dict[str, list[Any]] = {}
        self._texts: dict[str, list[str | None]] = {}
        self._folded: dict[str, list[str | None]] = {}
        self._reduced: dict[tuple[str, str], np.ndarray] = {}
        self._special = [row.get("special") if isinstance(row.get("special"), list) else None for row in rows]
        for name in names:
            if name in STRUCTURAL:
                continue
            values = [row.get(name) for row in flat]
            kind = _kind(values)
            if kind is None:
                continue
            self.columns[name] = Column(name, *kind)
            if kind == ("number", False):
                self._numbers[name] = np.array([_number(v) for v in values], dtype=np.float64)
            elif kind == ("number", True):
                self._lists[name] = values
            else:
                texts = [_text(v) for v in values]
                self._texts[name] = texts
                self._folded[name] = [None if text is None else text.lower() for text in texts]

    def column(self, name: str) -> Column:
        """The column ``name``.

        Raises:
            KeyError: no sortable column has that name (the message lists those there are).
        """
        try:
            return self.columns[name]
        except KeyError:
            known = ", ".join(self.columns) or "none"
            raise KeyError(f"No sortable column {name!r} in this run's summary; the columns: {known}.") from None

    def numbers(self, name: str, token: str = "first") -> np.ndarray:
        """float64 [rows]: a number column's values (NaN: missing), per-token ones read through ``token``."""
        column = self.column(name)
        if column.kind != "number":
            raise ValueError(f"Column {name!r} holds text, not numbers.")
        if not column.per_token:
            return self._numbers[name]
        check_token(token)
        key = (name, token)
        if key not in self._reduced:
            self._reduced[key] = np.array(
                [reduce_tokens(v, special, token) for v, special in zip(self._lists[name], self._special, strict=True)],
                dtype=np.float64,
            )
        return self._reduced[key]

    def texts(self, name: str) -> list[str | None]:
        """A text column's values as they read (None: missing)."""
        column = self.column(name)
        if column.kind != "text":
            raise ValueError(f"Column {name!r} holds numbers, not text.")
        return self._texts[name]

    def keep(self, filters: Sequence[Filter], token: str = "first") -> np.ndarray:
        """bool [rows]: the rows every filter keeps."""
        kept = np.ones(self.size, dtype=bool)
        for item in filters:
            if isinstance(item, TextFilter):
                if self.column(item.column).kind != "text":
                    raise ValueError(f"Column {item.column!r} holds numbers: filter it by a range (min, max).")
                needle = item.text.lower()
                kept &= np.array([t is not None and needle in t for t in self._folded[item.column]], dtype=bool)
            else:
                values = self.numbers(item.column, token)
                with np.errstate(invalid="ignore"):
                    inside = ~np.isnan(values)
                    if item.low is not None:
                        inside &= values >= item.low
                    if item.high is not None:
                        inside &= values <= item.high
                kept &= inside
        return kept

    def order(
        self, sort_by: str | None = None, descending: bool = False, filters: Sequence[Filter] = (), token: str = "first"
    ) -> np.ndarray:
        """int32 [shown]: the indices of the rows the gallery shows, in the order it shows them (the module's
        rules); ``sort_by`` None or "" keeps the dataset order."""
        kept = np.flatnonzero(self.keep(filters, token))
        if not sort_by:
            return kept.astype(np.int32)
        column = self.column(sort_by)
        if column.kind == "number":
            values = self.numbers(sort_by, token)[kept]
            present = ~np.isnan(values)
            ranked = kept[present][np.argsort(-values[present] if descending else values[present], kind="stable")]
            return np.concatenate([ranked, kept[~present]]).astype(np.int32)
        folded = self._folded[sort_by]
        present_rows = [int(i) for i in kept if folded[i] is not None]
        ranked_rows = sorted(present_rows, key=lambda i: folded[i] or "", reverse=descending)
        missing = [int(i) for i in kept if folded[i] is None]
        return np.array(ranked_rows + missing, dtype=np.int32)


def check_token(token: str) -> str:
    if token not in TOKEN_REDUCTIONS:
        raise ValueError(f"token must be one of {', '.join(TOKEN_REDUCTIONS)}, not {token!r}.")
    return token


def answer_tokens(count: int, special: Any) -> list[int]:
    """The answer tokens a "mean" or "max" reads: those that are not special (``special``, the row's flags, when
    it has one per token), or every one when all are special."""
    if isinstance(special, list) and len(special) == count:
        words = [i for i in range(count) if not special[i]]
        if words:
            return words
    return list(range(count))


def reduce_tokens(values: Any, special: Any, token: str) -> float:
    """One number from a per-token list (the module's rules); NaN when there is none."""
    if not isinstance(values, list) or not values:
        return math.nan
    if token == "first":
        return _number(values[0])
    picked = [_number(values[i]) for i in answer_tokens(len(values), special)]
    present = [v for v in picked if not math.isnan(v)]
    if not present:
        return math.nan
    return sum(present) / len(present) if token == "mean" else max(present)


def parse_filters(value: Any, index: SummaryIndex) -> list[Filter]:
    """The filters a ``filters`` trait holds: a list of ``{"column", "text"}`` or ``{"column", "min", "max"}``
    dicts.

    Raises:
        ValueError: not such a list, an unknown column, or a filter that does not fit its column's kind.
    """
    if not isinstance(value, list):
        raise ValueError(f"filters must be a list of dicts, not {type(value).__name__}.")
    parsed: list[Filter] = []
    for item in value:
        if not isinstance(item, Mapping) or not isinstance(item.get("column"), str):
            raise ValueError(
                f"A filter is {{'column': name, 'text': str}} or {{'column': name, 'min': x, 'max': y}}, not {item!r}."
            )
        try:
            column = index.column(item["column"])
        except KeyError as error:
            raise ValueError(error.args[0]) from None
        if "text" in item:
            if column.kind != "text" or not isinstance(item["text"], str):
                raise ValueError(
                    f"Filter {item!r}: a text filter needs a text column and a string; {column.name!r} holds "
                    f"{column.kind}s (filter it with 'min' and 'max')."
                )
            parsed.append(TextFilter(column.name, item["text"]))
            continue
        bounds = [item.get("min"), item.get("max")]
        if column.kind != "number" or not all(b is None or _is_number(b) for b in bounds):
            raise ValueError(
                f"Filter {item!r}: a range filter needs a number column and numbers (or None) as 'min' and 'max'; "
                f"{column.name!r} holds {column.kind} (filter it with 'text')."
            )
        low, high = (None if b is None else float(b) for b in bounds)
        parsed.append(RangeFilter(column.name, low, high))
    return parsed
