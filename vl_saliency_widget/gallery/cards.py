"""What a gallery card shows, read from the run's files when a card asks for it: the sample's picture as a small PNG
(from its trace file: ``picture_<i>``) and its answer's map for a method (from its maps file: ``<method>/<i>``,
[answer tokens, rows, cols], reduced over the tokens here), with the sample's text. Pictures and maps are kept in
bounded caches, so scrolling back costs no file read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np
from PIL import Image
from safetensors import safe_open

from ..runs import Run
from ..widget.serialize import encode_picture
from .index import answer_tokens, check_token

THUMBNAIL = 128
"""The longest side of a card's picture, in pixels (a smaller picture is sent as it is)."""

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """At most ``size`` values, the least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, make: Callable[[], V]) -> V:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


def picture_index(row: dict[str, Any]) -> int:
    """The picture a card shows: the boxed one (``box_image``), else the first."""
    box_image = row.get("box_image")
    return box_image if isinstance(box_image, int) else 0


def card_text(row: dict[str, Any]) -> dict[str, Any]:
    """The words on a card: the sample's id, status, question, answer and, for a failed one, its error."""
    return {
        "id": row.get("id"),
        "status": row.get("status"),
        "question": row.get("question") or "",
        "answer": row.get("answer") or "",
        "error": row.get("error") or "",
    }


def reduce_map(stack: np.ndarray, special: Any, token: str) -> np.ndarray:
    """float32 [rows, cols] from a sample's [answer tokens, rows, cols] maps: the first token's, or the mean or the
    max over the answer's tokens that are not special (``index.answer_tokens``)."""
    check_token(token)
    if token == "first":
        return np.ascontiguousarray(stack[0], dtype=np.float32)
    picked = stack[answer_tokens(stack.shape[0], special)]
    reduced = picked.mean(axis=0) if token == "mean" else picked.max(axis=0)
    return np.ascontiguousarray(reduced, dtype=np.float32)


class Cards:
    """Pictures and maps of a run's samples, by row index (``run.rows[index]``), read when first asked for.

    Args:
        run: the run.
        thumbnail: the longest side of a card's picture, in pixels.
        cache: how many pictures, and how many maps, are kept.
    """

    def __init__(self, run: Run, thumbnail: int = THUMBNAIL, cache: int = 4096) -> None:
        self.run = run
        self.thumbnail = thumbnail
        self._pictures: Lru[int, dict[str, Any] | None] = Lru(cache)
        self._maps: Lru[tuple[int, str, str], np.ndarray | None] = Lru(cache)
        self.reads = 0
        """How many files were opened (the caches' misses)."""

    def _path(self, index: int, name: str) -> str | None:
        row = self.run.rows[index]
        if row.get("status") != "ok" or not row.get(name):
            return None
        return str(self.run.path / row[name])

    def picture(self, index: int) -> dict[str, Any] | None:
        """The sample's picture shrunk to ``thumbnail`` pixels on its longest side, as ``encode_picture`` gives it
        (PNG bytes, width, height); None for a failed sample."""
        return self._pictures.get(index, lambda: self._read_picture(index))

    def _read_picture(self, index: int) -> dict[str, Any] | None:
        path = self._path(index, "trace")
        if path is None:
            return None
        self.reads += 1
        with safe_open(path, framework="np") as f:
            pixels = f.get_tensor(f"picture_{picture_index(self.run.rows[index])}")
        image = Image.fromarray(pixels)
        image.thumbnail((self.thumbnail, self.thumbnail), Image.Resampling.BILINEAR)
        return encode_picture(image)

    def map(self, index: int, method: str, token: str) -> np.ndarray | None:
        """float32 [rows, cols]: the sample's precomputed map of ``method`` on its card's picture, read through
        ``token`` ("first", "mean" or "max" over the answer's tokens); None for a failed sample or a method its
        maps file does not hold."""
        return self._maps.get((index, method, token), lambda: self._read_map(index, method, token))

    def _read_map(self, index: int, method: str, token: str) -> np.ndarray | None:
        path = self._path(index, "maps")
        if path is None:
            return None
        row = self.run.rows[index]
        name = f"{method}/{picture_index(row)}"
        self.reads += 1
        with safe_open(path, framework="np") as f:
            if name not in f.keys():  # noqa: SIM118 (safe_open has no __contains__)
                return None
            stack = f.get_tensor(name)
        return reduce_map(stack, row.get("special"), token)
