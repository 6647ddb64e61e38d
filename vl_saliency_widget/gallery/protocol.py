"""The gallery's messages, besides its synced traits (``js/gallerymodel.ts`` speaks the same).

From the view: ``{"type": "items", "id": int, "indices": [int], "pictures": [int]}``: the cards of rows
``indices`` (row indices of the run, at most :data:`MAX_ITEMS`), with the pictures of those in ``pictures`` (the
view keeps the pictures it has; the maps change with the method and the token reduction).

To the view, answering request ``id``: ``{"type": "items", "id", "method", "token", "items": [...], "maps",
"pictures"}``: per card its row ``index``, its text (``cards.card_text``), ``map``: ``[offset, rows, cols]`` into
``maps`` (float32, every card's map one after another) or null, and ``picture``: ``[offset, length, width,
height]`` of its PNG bytes in ``pictures`` (uint8) or null. Two buffers, whatever the number of cards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from ..widget.serialize import encode_array, pack_message
from .cards import Cards, card_text

MAX_ITEMS = 1024
"""The most cards one request may ask for."""

OUT_OF_STEP = (
    "the gallery's front end and the Python package are out of step: rebuild the front end (npm run build) or "
    "reinstall the package, then reload the page."
)


@dataclass(frozen=True)
class Items:
    """Send the cards of rows ``indices``, with the pictures of rows ``pictures``, answering request ``id``."""

    id: int
    indices: tuple[int, ...]
    pictures: frozenset[int]


def _ints(value: Any) -> TypeGuard[list[int]]:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def parse(content: Any, size: int) -> Items:
    """The request a message from the view makes; ``size``: how many rows the run has.

    Raises:
        ValueError: an unknown message, fields of the wrong type, too many cards or a row out of range.
    """
    if not isinstance(content, dict) or content.get("type") != "items":
        raise ValueError(f"The view sent a message the gallery does not know ({str(content)[:80]}); {OUT_OF_STEP}")
    request, indices, pictures = content.get("id"), content.get("indices"), content.get("pictures", [])
    if not isinstance(request, int) or isinstance(request, bool) or not _ints(indices) or not _ints(pictures):
        raise ValueError(f"The view asked for cards with malformed fields ({str(content)[:80]}); {OUT_OF_STEP}")
    if len(indices) > MAX_ITEMS:
        raise ValueError(
            f"The view asked for {len(indices)} cards at once, at most {MAX_ITEMS} are sent; {OUT_OF_STEP}"
        )
    wrong = [i for i in [*indices, *pictures] if not 0 <= i < size]
    if wrong:
        raise ValueError(f"The view asked for rows {wrong[:5]} of a run of {size} samples; {OUT_OF_STEP}")
    return Items(request, tuple(indices), frozenset(pictures) & frozenset(indices))


def items_message(request: Items, cards: Cards, method: str, token: str) -> tuple[dict[str, Any], list[memoryview]]:
    """The answer to ``request``: its cards with ``method``'s maps read through ``token``, and the pictures asked
    for (content and buffers, as ``widget.send`` takes them)."""
    items: list[dict[str, Any]] = []
    maps: list[np.ndarray] = []
    pictures: list[bytes] = []
    map_offset = picture_offset = 0
    for index in request.indices:
        item: dict[str, Any] = {"index": index, **card_text(cards.run.rows[index]), "map": None, "picture": None}
        values = cards.map(index, method, token)
        if values is not None:
            item["map"] = [map_offset, *values.shape]
            maps.append(values.reshape(-1))
            map_offset += values.size
        picture = cards.picture(index) if index in request.pictures else None
        if picture is not None:
            item["picture"] = [picture_offset, len(picture["png"]), picture["width"], picture["height"]]
            pictures.append(picture["png"])
            picture_offset += len(picture["png"])
        items.append(item)
    content = {
        "type": "items",
        "id": request.id,
        "method": method,
        "token": token,
        "items": items,
        "maps": encode_array(np.concatenate(maps) if maps else np.zeros(0, dtype=np.float32)),
        "pictures": encode_array(np.frombuffer(b"".join(pictures), dtype=np.uint8)),
    }
    return pack_message(content)
