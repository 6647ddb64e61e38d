"""SaliencyGallery: a run's samples as a grid of thumbnails, sorted and filtered by any summary column; a click opens
the sample's full ``SaliencyWidget`` in place.

Traits and observers; the summary's index is ``index.py``, the cards' pictures and maps ``cards.py``, the messages
``protocol.py``, the exported page ``export.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from ..lib import METHODS
from ..runs import Run, store
from ..widget import SaliencyWidget
from ..widget.assets import bundle
from ..widget.saliency import COLORMAPS, REDUCTIONS
from ..widget.serialize import encode_array
from . import protocol
from .cards import THUMBNAIL, Cards
from .export import PAGE_SIZE, write_page
from .index import TOKEN_REDUCTIONS, SummaryIndex, check_token, parse_filters


def method_menu(run: Run) -> list[dict[str, Any]]:
    """Every method by name ("attn", "grad", ``lib.METHODS``' names, then the run's own), each with whether the run
    precomputed its maps and, when it did not, what to do."""
    names = list(dict.fromkeys(["attn", "grad", *METHODS, *run.methods]))
    return [
        {
            "name": name,
            "precomputed": name in run.methods,
            "note": ""
            if name in run.methods
            else f"not precomputed: run capture_dataset(..., methods=[..., {name!r}]) to see it here",
        }
        for name in names
    ]


def reduction_menu(run: Run) -> list[dict[str, Any]]:
    """The layers x heads reductions: the one the run's maps were reduced with (``capture_dataset(reduce=)``) is the
    only one there is; the others say so."""
    done = run.settings.get("reduce")
    if done is None:
        return [{"name": "as precomputed", "precomputed": True, "note": ""}]
    return [
        {
            "name": name,
            "precomputed": name == done,
            "note": "" if name == done else f"not precomputed: the run reduced layers and heads with {done!r}",
        }
        for name in REDUCTIONS
    ]


class SaliencyGallery(anywidget.AnyWidget):  # type: ignore[misc]
    """A grid of a run's samples: each card the sample's picture under its answer's precomputed map, its question
    and its answer; sorted and filtered by any column of the summary; a click opens the sample's ``SaliencyWidget``
    in place, and "back" returns to the grid.

    ``display(SaliencyGallery(Run.load("runs/x")))``. The grid scrolls over every sample and asks the kernel for
    the cards in view (pictures once, maps per method and token), so a run of 10,000 samples sends only what is
    seen. ``g.sort_by = "pointing_attn"``, ``g.filters = [{"column": "question", "text": "red"}]``,
    ``g.open_sample(sample_id)``, ``g.back()``; ``g.ids`` lists the samples in the order shown.
    """

    _esm = bundle("gallery.js")
    _css = bundle("gallery.css")

    total = t.Int(0, help="How many samples the run has.").tag(sync=True)
    columns = t.List(t.Dict(), help="The sortable columns: name, kind ('number' or 'text'), per_token.").tag(sync=True)
    methods = t.List(t.Dict(), help="Every method: name, precomputed, and a note when it was not.").tag(sync=True)
    method = t.Unicode(help="The method whose maps the cards show; one the run precomputed.").tag(sync=True)
    token = t.Enum(
        TOKEN_REDUCTIONS, "first", help="Which answer token a card's map and per-token columns read: first, mean, max."
    ).tag(sync=True)
    reductions = t.List(t.Dict(), help="The layers x heads reductions, and which one the run precomputed.").tag(
        sync=True
    )
    sort_by = t.Unicode("", help="The column the cards are sorted by; '': the dataset's order.").tag(sync=True)
    descending = t.Bool(False, help="Sort from the largest (or last) value.").tag(sync=True)
    filters = t.List(
        t.Dict(), help="Filters that all hold: {'column', 'text'} (contains) or {'column', 'min', 'max'} (a range)."
    ).tag(sync=True)
    order = t.Dict(
        help="indices: int32 [shown], the rows shown, in order; values: float32 [shown], the sort column's numbers."
    ).tag(sync=True)
    colormap = t.Enum(COLORMAPS, "inferno", help="The maps' colormap.").tag(sync=True)
    opacity = t.Float(0.6, min=0.0, max=1.0, help="The maps' opacity over the pictures.").tag(sync=True)
    opened = t.Int(-1, help="Row index of the sample open in the full widget; -1: the grid.").tag(sync=True)
    detail = anywidget.WidgetTrait().tag(sync=True)
    detail.help = "The open sample's SaliencyWidget, shown in place of the grid; None while the grid shows."
    error = t.Unicode("", help="What went wrong, shown in the banner; empty: nothing.").tag(sync=True)

    def __init__(
        self,
        run: Run | str | Path,
        *,
        method: str | None = None,
        token: str = "first",
        sort_by: str = "",
        descending: bool = False,
        filters: list[dict[str, Any]] | None = None,
        thumbnail: int = THUMBNAIL,
        **traits: Any,
    ) -> None:
        """Show ``run`` (a ``Run`` or its folder).

        Args:
            run: what ``capture_dataset`` returned, or ``Run.load``'s folder.
            method: the method whose maps the cards show; default: the run's first.
            token: "first" (the first answer token), "mean" or "max" over the answer's tokens that are not special:
                how a card's map and the per-token columns (``pointing_<method>``...) are read.
            sort_by, descending, filters: the order (see the traits).
            thumbnail: the longest side of a card's picture as sent, in pixels.

        Raises:
            ValueError: the run precomputed no map, or an argument the run cannot serve (the message says what).
        """
        self.run = run if isinstance(run, Run) else Run.load(run)
        if not self.run.methods:
            raise ValueError(
                f"{self.run.path} holds no precomputed maps: capture it with capture_dataset(methods=...)."
            )
        self.index = SummaryIndex(self.run.rows)
        self._position = {store.key(row["id"]): i for i, row in enumerate(self.run.rows)}
        self.cards = Cards(self.run, thumbnail)
        self._live = False
        super().__init__(
            total=len(self.run),
            columns=[column.state() for column in self.index.columns.values()],
            methods=method_menu(self.run),
            method=method if method is not None else self.run.methods[0],
            token=token,
            reductions=reduction_menu(self.run),
            sort_by=sort_by,
            descending=descending,
            filters=list(filters or []),
            **traits,
        )
        self._rows = self._compute_order()
        self.order = self._order_state()
        self._live = True
        self.on_msg(self._on_message)

    # -- the order (index.py) --------------------------------------------------------------------------------

    def _compute_order(self) -> np.ndarray:
        return self.index.order(self.sort_by, self.descending, parse_filters(self.filters, self.index), self.token)

    def _order_state(self) -> dict[str, Any]:
        """The ``order`` trait: the rows shown, and the sort column's values beside them when it holds numbers."""
        values = None
        if self.sort_by and self.index.columns[self.sort_by].kind == "number":
            values = encode_array(self.index.numbers(self.sort_by, self.token)[self._rows].astype(np.float32))
        return {"indices": encode_array(self._rows), "values": values}

    @property
    def rows(self) -> np.ndarray:
        """int32 [shown]: the run's row indices of the samples shown, in the order shown."""
        return self._rows

    @property
    def ids(self) -> list[Any]:
        """The ids of the samples shown, in the order shown."""
        return [self.run.rows[i]["id"] for i in self._rows]

    @t.validate("method", "token", "sort_by", "filters", "opened")
    def _valid(self, proposal: dict[str, Any]) -> Any:
        """Refuse a value the gallery cannot show, with a TraitError that says what to pass instead."""
        name, value = proposal["trait"].name, proposal["value"]
        try:
            if name == "method" and value not in self.run.methods:
                known = ", ".join(self.run.methods)
                raise ValueError(
                    f"The run did not precompute {value!r}: its maps hold {known}. To see {value!r} here, capture "
                    f"the run with capture_dataset(..., methods=[..., {value!r}])."
                )
            if name == "token":
                check_token(value)
            if name == "sort_by" and value:
                self.index.column(value)
            if name == "filters":
                parse_filters(value, self.index)
            if name == "opened" and value != -1:
                self._check_openable(value)
        except (KeyError, ValueError) as error:
            raise t.TraitError(error.args[0]) from None
        return value

    @t.observe("sort_by", "descending", "filters", "token")
    def _on_order(self, _change: dict[str, Any]) -> None:
        if self._live:
            self._rows = self._compute_order()
            self.order = self._order_state()

    # -- the cards (cards.py, protocol.py) -------------------------------------------------------------------

    def _on_message(self, _widget: object, content: Any, _buffers: list[bytes]) -> None:
        """A request for cards; one that does not fit is shown in the error banner."""
        try:
            request = protocol.parse(content, len(self.run))
            self.send(*protocol.items_message(request, self.cards, self.method, self.token))
        except Exception as error:  # a file that cannot be read must not take the gallery down
            self.error = f"{type(error).__name__}: {error}"

    # -- the open sample ---------------------------------------------------------------------------------------

    def _check_openable(self, index: Any) -> None:
        if not isinstance(index, int) or not 0 <= index < len(self.run):
            raise ValueError(f"opened is a row index from 0 to {len(self.run) - 1}, or -1; not {index!r}.")
        row = self.run.rows[index]
        if row.get("status") != "ok":
            raise ValueError(f"Sample {row['id']!r} failed ({row.get('error')}): it has no trace to open.")

    @t.observe("opened")
    def _on_opened(self, change: dict[str, Any]) -> None:
        previous = self.detail
        self.detail = None
        if previous is not None:
            previous.close()
        if change["new"] == -1:
            return
        try:
            self.detail = self._widget(self.run.rows[change["new"]]["id"])
            self.error = ""
        except Exception as error:  # a trace file that does not load: say so and stay on the grid
            self.error = f"{type(error).__name__}: {error}"
            self.opened = -1

    def _widget(self, sample_id: Any) -> SaliencyWidget:
        """The full widget of a sample, on the gallery's method when its menu has it."""
        widget = SaliencyWidget(self.run.trace(sample_id))
        if self.method in widget.methods:
            widget.mode = self.method
        return widget

    def open_sample(self, sample_id: Any) -> SaliencyWidget:
        """Show the full widget of sample ``sample_id`` in place of the grid, and return it.

        Raises:
            KeyError: no such sample. ValueError: the sample failed, or its trace does not load.
        """
        index = self._position.get(store.key(sample_id))
        if index is None:
            raise KeyError(f"No sample {sample_id!r} in {self.run.path}.")
        try:
            self.opened = index
        except t.TraitError as error:
            raise ValueError(str(error)) from None
        if self.detail is None:
            raise ValueError(self.error)
        return self.detail

    def back(self) -> None:
        """Close the open sample's widget and show the grid again."""
        self.opened = -1

    @property
    def widget(self) -> SaliencyWidget | None:
        """The open sample's widget, or None while the grid shows."""
        return self.detail

    def close(self) -> None:
        """Close the gallery, the open sample's widget and their layouts (ipywidgets leaves a Layout open)."""
        if self.detail is not None:
            self.detail.close()
        layout = self.layout
        super().close()
        layout.close()

    # -- the exported page (export.py) -----------------------------------------------------------------------

    def to_html(self, path: str | Path, *, page: int = 0, page_size: int = PAGE_SIZE, title: str | None = None) -> Path:
        """Write one self-contained HTML file of a page of the gallery: the ``page``-th ``page_size`` samples in the
        order shown, their pictures embedded as PNG with every precomputed method's maps for each token reduction,
        and the columns' values, so that the method, token, sort and filters work in the page without a kernel
        (within that page). A click on a card opens nothing there (the full widget needs the kernel). Returns the
        path written.

        Raises:
            IndexError: ``page`` is not a page of the samples shown.
        """
        state = self.get_state(["total", "columns", "methods", "method", "token", "reductions", "sort_by"])
        state |= self.get_state(["descending", "filters", "colormap", "opacity"])
        return write_page(path, state, self, page, page_size, title)
