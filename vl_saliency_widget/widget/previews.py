"""What the widget keeps of the maps it computed: every token's aggregated map in one buffer, the last full maps.

The ``previews`` trait shares memory with a :class:`Previews`' arrays. A refresh (new method, pipeline, image or
reduction) starts new arrays and publishes them whole; a token computed later is written into them in place and
sent alone in a "preview" message, so a click never resends every token's map.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core.map import SaliencyMap
from .serialize import encode_array

DETAIL_CACHE_SIZE = 16
"""How many per-token [layers, heads, h, w] maps the widget keeps, most recently shown first."""


class Previews:
    """The aggregated [h, w] map of every mappable token: float32 [tokens, h, w] and uint8 ready flags [tokens],
    rows in the order of ``positions`` (the view's ``tokens["mappable"]``). The buffer takes the size of the first
    map stored; a map of another size starts new arrays."""

    def __init__(self, positions: Sequence[int]) -> None:
        self.row = {position: row for row, position in enumerate(positions)}
        """Each mappable position's row in the buffer."""
        self.maps = np.zeros((len(self.row), 0, 0), dtype=np.float32)
        self.ready = np.zeros(len(self.row), dtype=np.uint8)
        self._published = False

    def check(self, position: int) -> int:
        """``position`` when it has a row (a token that can be mapped); else a ValueError that says which have."""
        if int(position) not in self.row:
            raise ValueError(
                f"Position {int(position)} cannot be mapped: choose one of trace.text_positions "
                f"({min(self.row)}..{max(self.row)}, text tokens that follow a text token)."
            )
        return int(position)

    def is_ready(self, position: int) -> bool:
        """Whether the preview of ``position`` is computed."""
        return bool(self.ready[self.row[position]])

    def missing(self) -> list[int]:
        """The positions whose preview is not computed, in buffer order."""
        return [position for position, row in self.row.items() if not self.ready[row]]

    def clear(self) -> None:
        """Start new, empty arrays: nothing is ready."""
        self.maps = np.zeros((len(self.row), 0, 0), dtype=np.float32)
        self.ready = np.zeros(len(self.row), dtype=np.uint8)

    def fill(
        self,
        positions: Sequence[int],
        one: Callable[[int], np.ndarray],
        gather: Callable[[Sequence[int]], np.ndarray] | None = None,
    ) -> None:
        """Store the previews of ``positions``: from ``gather(positions)`` ([tokens, h, w], all at once) when given,
        then ``one(position)`` ([h, w]) for any still missing. What was stored before an error stays stored."""
        if gather is not None:
            for position, values in zip(positions, gather(positions), strict=True):
                self.store(position, values.astype(np.float32))
        for position in positions:
            if not self.is_ready(position):
                self.store(position, one(position))

    def store(self, position: int, values: np.ndarray) -> None:
        """Keep ``values`` [h, w] as the preview of ``position``; a new map size starts new arrays."""
        if self.maps.shape[1:] != values.shape:
            self.maps = np.zeros((len(self.row), *values.shape), dtype=np.float32)
            self.ready = np.zeros(len(self.row), dtype=np.uint8)
            self._published = False
        row = self.row[position]
        self.maps[row] = values
        self.ready[row] = 1

    def copy(self) -> Previews:
        """Another Previews holding copies of these arrays (unpublished: writing to it changes nothing shown)."""
        other = Previews(list(self.row))
        other.maps, other.ready = self.maps.copy(), self.ready.copy()
        return other

    def state(self) -> dict[str, Any]:
        """The ``previews`` trait, sharing memory with the arrays: ``maps`` float32 [tokens, h, w], ``ready`` uint8."""
        self._published = True
        return {"maps": encode_array(self.maps), "ready": encode_array(self.ready)}

    def update(self, positions: Sequence[int]) -> dict[str, Any] | None:
        """The "preview" message for the rows of ``positions`` (int32 ``rows``, float32 ``maps`` [rows, h, w]), or
        None when the arrays are new since the last ``state()``, which must then be published whole."""
        if not self._published:
            return None
        rows = np.asarray([self.row[p] for p in positions], dtype=np.int32)
        return {"type": "preview", "rows": encode_array(rows), "maps": encode_array(self.maps[rows])}


class DetailCache:
    """The last ``size`` per-token [layers, heads, h, w] maps; the method, pipeline and image clear it."""

    def __init__(self, size: int = DETAIL_CACHE_SIZE) -> None:
        self.size = size
        self._maps: OrderedDict[int, SaliencyMap] = OrderedDict()

    def get(self, position: int, compute: Callable[[int], SaliencyMap]) -> SaliencyMap:
        """The map of ``position``: kept, or ``compute(position)``, kept from now on."""
        if position in self._maps:
            self._maps.move_to_end(position)
            return self._maps[position]
        smap = self._maps[position] = compute(position)
        if len(self._maps) > self.size:
            self._maps.popitem(last=False)
        return smap

    def clear(self) -> None:
        self._maps.clear()
