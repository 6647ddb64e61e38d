"""A page of the gallery as one self-contained HTML file: bundle, styles, pictures (PNG) and maps inlined; the page
sorts and filters its own samples with ``js/galleryorder.ts``, no kernel needed.

What the page holds besides the gallery's traits (``static``, read by ``js/gallerystandalone.ts``): its rows (run
row indices, in the order shown), each card's text and picture, every precomputed method's map of each card for
each token reduction, and every sortable column's values on those rows (per-token columns once per reduction).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..widget.export import standalone_page
from ..widget.serialize import encode_array
from .cards import card_text
from .index import TOKEN_REDUCTIONS

if TYPE_CHECKING:
    from .gallery import SaliencyGallery

PAGE_SIZE = 120
"""Samples on an exported page, by default."""


def page_rows(rows: np.ndarray, page: int, page_size: int) -> tuple[np.ndarray, int]:
    """The run row indices on page ``page`` of ``rows`` (the order shown), and how many pages there are.

    Raises:
        IndexError: ``page`` is not one of them. ValueError: ``page_size`` is not positive.
    """
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, not {page_size}.")
    pages = max(1, math.ceil(len(rows) / page_size))
    if not 0 <= page < pages:
        raise IndexError(f"page {page} does not exist: the {len(rows)} samples shown make pages 0 to {pages - 1}.")
    return rows[page * page_size : (page + 1) * page_size], pages


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def static_page(gallery: SaliencyGallery, page: int, page_size: int) -> dict[str, Any]:
    """The ``static`` part of an exported page's state (see the module docstring)."""
    rows, pages = page_rows(gallery.rows, page, page_size)
    indices = [int(i) for i in rows]
    index, cards = gallery.index, gallery.cards
    table: dict[str, Any] = {}
    for name, column in index.columns.items():
        if column.kind == "text":
            texts = index.texts(name)
            table[name] = [texts[i] for i in indices]
        elif column.per_token:
            table[name] = {
                token: [_json_number(v) for v in index.numbers(name, token)[indices]] for token in TOKEN_REDUCTIONS
            }
        else:
            table[name] = [_json_number(v) for v in index.numbers(name)[indices]]
    maps: dict[str, dict[str, list[Any]]] = {}
    for method in gallery.run.methods:
        maps[method] = {}
        for token in TOKEN_REDUCTIONS:
            values = [cards.map(i, method, token) for i in indices]
            maps[method][token] = [None if v is None else encode_array(v) for v in values]
    return {
        "page": page,
        "pages": pages,
        "page_size": page_size,
        "shown": len(gallery.rows),
        "rows": indices,
        "items": [card_text(gallery.run.rows[i]) | {"index": i} for i in indices],
        "pictures": [cards.picture(i) for i in indices],
        "maps": maps,
        "table": table,
    }


def page_html(state: dict[str, Any], title: str) -> str:
    """The page that mounts ``js/gallerystandalone.ts`` on ``state``.

    Raises:
        FileNotFoundError: the gallery's standalone bundle is not built.
    """
    return standalone_page(
        state,
        title,
        script="gallery-standalone.js",
        styles="gallery.css",
        mount="VLSaliencyGallery",
        element="saliency-gallery",
        state_id="saliency-gallery-state",
        allow_nan=False,
    )


def write_page(
    path: str | Path, traits: dict[str, Any], gallery: SaliencyGallery, page: int, page_size: int, title: str | None
) -> Path:
    """Write page ``page`` of ``gallery`` (its synced ``traits`` and :func:`static_page`) to ``path``."""
    held = static_page(gallery, page, page_size)
    name = gallery.run.path.name
    state = traits | {"static": held}
    heading = title if title is not None else f"Saliency gallery: {name}, page {page + 1} of {held['pages']}"
    target = Path(path)
    target.write_text(page_html(state, heading), encoding="utf-8")
    return target
