"""SaliencyWidget: where the model looked, token by token, as a live JupyterLab view of a Trace.

Traits and observers; the work is done in the modules beside this one (the package's __init__ lists them).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anywidget
import traitlets as t
from PIL import Image

from ..core.map import SaliencyMap
from ..core.method import Method
from ..core.trace import Trace
from ..lib import HeadRanking, difference
from . import maps, protocol, regions, snapshot
from . import reliance as answer_reliance
from .assets import bundle
from .content import check_image_index, check_trace, first_token, pictures, token_strip
from .export import write_html
from .methods import check_mode, check_pipeline, menu
from .serialize import encode_picture, pack_message
from .static import GRID_BUDGET_MIB, static_state

if TYPE_CHECKING:
    from ..core.reduce import Reduction

REDUCTIONS = ("mean", "sum", "max", "min")
"""The aggregations the view's menus offer (sent to it: the view keeps no list of its own)."""
COLORMAPS = ("inferno", "viridis", "gray")
"""The colormaps the view's menu offers for maps without negative values, each drawn by ``js/colormap.ts`` (sent to
the view); a map with negative values is drawn on a diverging scale centred on 0, whatever the choice."""
GRID_SCALES = ("head", "shared")
"""The layers x heads grid's colour scales: each head on its own, or one shared by every head."""


class SaliencyWidget(anywidget.AnyWidget):  # type: ignore[misc]
    """Token strip, heatmap over the image, layers x heads grid and method controls for one Trace.

    ``display(SaliencyWidget(trace))`` in JupyterLab; README.md (Quick start, and the paragraph after it) shows it
    in use. ``w.map`` is the map on screen. Each trait's ``help`` says what it holds.

    Synced with the view: ``tokens``, ``images``, ``methods``, ``reductions``, ``colormaps``, ``previews``,
    ``token``, ``mode``, ``image_index``, ``layer_reduce``, ``head_reduce``, ``heads``, ``colormap``, ``grid_scale``,
    ``opacity``, ``smooth``, ``error``, ``region_scores``, ``compare_token``, ``comparison``,
    ``head_ranking``, ``reliance``, ``focus``. In Python only: ``pipeline``, ``region``.
    """

    _esm = bundle("widget.js")
    _css = bundle("widget.css")

    tokens = t.Dict(help="Token text, kinds, image of each position, mappable positions, grounding.").tag(sync=True)
    images: t.List[dict[str, Any]] = t.List(help="The pictures under the maps: PNG bytes and size.").tag(sync=True)
    methods = t.List(t.Unicode(), help="The method menu, by name.").tag(sync=True)
    reductions = t.List(t.Unicode(), list(REDUCTIONS), help="The aggregation menus' choices.").tag(sync=True)
    colormaps = t.List(t.Unicode(), list(COLORMAPS), help="The colormap menu's choices.").tag(sync=True)
    previews = t.Dict(help="Every mappable token's aggregated map (float32) and ready flag (uint8).").tag(sync=True)
    token = t.Int(0, help="Absolute position of the selected token.").tag(sync=True)
    mode = t.Unicode("attn", help="The method shown: a name from the menu.").tag(sync=True)
    image_index = t.Int(0, help="Which image of the prompt the maps cover.").tag(sync=True)
    layer_reduce = t.Enum(REDUCTIONS, "mean", help="How the aggregate reduces layers.").tag(sync=True)
    head_reduce = t.Enum(REDUCTIONS, "mean", help="How the aggregate reduces heads.").tag(sync=True)
    heads = t.List(t.List(t.Int(), minlen=2, maxlen=2), help="[layer, head] pairs shown, averaged.").tag(sync=True)
    colormap = t.Enum(COLORMAPS, "inferno", help="The heatmap's colormap for maps without negative values.").tag(
        sync=True
    )
    grid_scale = t.Enum(
        GRID_SCALES, "head", help="The grid's colours: 'head', each head on its own scale; 'shared', one for all."
    ).tag(sync=True)
    opacity = t.Float(0.6, min=0.0, max=1.0, help="The heatmap's opacity over the picture.").tag(sync=True)
    smooth = t.Bool(True, help="Draw the heatmap smoothed rather than as cells.").tag(sync=True)
    error = t.Unicode("", help="What went wrong, shown in the banner; empty: nothing.").tag(sync=True)
    pipeline = t.Any(None, help="Transform applied to every map before it is shown (Python only).")
    region = t.Any(None, help="Box, cell or mask of the picture that scores tokens (Python only).")
    region_scores = t.Dict(help="Each token's score on region (float32 [T]), outline, image, mode.").tag(sync=True)
    compare_token = t.Int(None, allow_none=True, help="Token whose map is subtracted; None: none.").tag(sync=True)
    comparison = t.Dict(help="lib.difference of the two tokens' maps (float32 [h, w]) and its tokens.").tag(sync=True)
    head_ranking = t.Dict(help="A head ranking's top heads and frequencies, for the grid.").tag(sync=True)
    reliance = t.Dict(
        help="trace.reliance(): per position delta, with/without image (float32 [T]), from_image (uint8); {}: none."
    ).tag(sync=True)
    focus = t.Dict(
        help="The selected token's image share per layer (float32 [layers]) and text attribution (float32 [T])."
    ).tag(sync=True)

    def __init__(
        self,
        trace: Trace,
        image: Image.Image | Sequence[Image.Image] | None = None,
        *,
        mode: Method | None = None,
        pipeline: Callable[[SaliencyMap], SaliencyMap] | None = None,
        methods: Mapping[str, Method] | None = None,
        token: int | None = None,
        head_ranking: HeadRanking | None = None,
        **traits: Any,
    ) -> None:
        """Show ``trace``; the view follows the traits (``w.token = pos``, ``w.mode = "grad"``, ...).

        Args:
            trace: what ``SaliencyExtractor.capture`` returned.
            image: the picture(s) under the maps, one per image of the prompt; default: ``trace.images``.
            mode: the method to start with: a name from the menu or from ``methods``, or a trace transform
                ``fn(attn, grad) -> SaliencyMap`` (added to the menu under its ``__name__``).
            pipeline: a transform applied to every [layers, heads, h, w] map before it is shown.
            methods: extra trace transforms for the method menu, by name.
            token: absolute position to select first; default: the first generated token.
            head_ranking: what ``lib.rank_localization_heads`` returned; the grid marks its top heads.
        """
        self.trace = check_trace(trace)
        self._live = False
        self._methods, start = menu(trace, mode, methods)
        first = first_token(trace, token)
        self._request_id = 0
        self._maps = maps.Maps(trace, self._controls)
        self._pictures = pictures(image, trace)
        super().__init__(
            tokens=token_strip(trace),
            images=[encode_picture(picture) for picture in self._pictures],
            methods=list(self._methods),
            mode=start,
            pipeline=pipeline,
            token=first,
            head_ranking=regions.ranking_state(head_ranking, trace.axis_labels),
            reliance=answer_reliance.reliance_state(trace),
            focus=answer_reliance.focus_state(trace, first),
            **traits,
        )
        self._live = True
        self._refresh_previews()
        self.on_msg(self._on_message)

    # -- maps and previews (maps.py, previews.py) --------------------------------------------------------

    def _controls(self) -> maps.Controls:
        reduce = cast("tuple[Reduction, Reduction]", (self.layer_reduce, self.head_reduce))
        return maps.Controls(self._methods[self.mode], self.pipeline, self.image_index, *reduce)

    @property
    def map(self) -> SaliencyMap:
        """The map on screen, [1, 1, h, w]: the selected heads averaged, or the aggregate of all of them; with
        ``compare_token`` set, ``lib.difference`` of the selected token's and that token's."""
        shown = self._maps.shown(self._maps.detail(self.token), self.heads)
        if self.compare_token is None:
            return shown
        return difference(shown, self._maps.shown(self._maps.detail(self.compare_token), self.heads))

    def _or_banner(self, compute: Callable[[], Any], failed: Any = None) -> Any:
        """``compute()``, or ``failed`` with the error shown in the banner."""
        try:
            return compute()
        except Exception as error:
            self.error = protocol.describe(error)
            return failed

    def _refresh_previews(self) -> None:
        """Recompute every token's preview the method needs no backward pass for, and publish them whole."""
        self._or_banner(self._maps.refresh)
        self.previews = self._maps.previews.state()

    def _store_preview(self, position: int, smap: SaliencyMap) -> None:
        """Keep ``smap``'s aggregate as the preview of ``position`` and send it: alone, or all after new arrays."""
        message = self._maps.keep(position, smap)
        if message is None:
            self.previews = self._maps.previews.state()
        else:
            self.send(*pack_message(message))

    def compute_all(self) -> None:
        """Compute the map of every token the current method has not computed yet (one backward pass each).

        The view shows the progress and each preview as it comes.
        """
        todo = self._maps.previews.missing()

        def run() -> None:
            for done, position in enumerate(todo):
                self.send(protocol.progress(done, len(todo)))
                self._store_preview(position, self._maps.compute(position))

        self._or_banner(run)
        self.send(protocol.progress(len(todo), len(todo)))

    # -- selection and the kernel round trip (protocol.py) -----------------------------------------------

    def _send_detail(self) -> None:
        """Send the [layers, heads, h, w] map of the selected token, answering request ``_request_id``."""
        header = protocol.detail_header(self._request_id, self.token, self.mode, self.image_index)
        try:
            smap = self._maps.detail(self.token)
            if not self._maps.previews.is_ready(self.token):
                self._store_preview(self.token, smap)
        except Exception as error:
            self.error = protocol.describe(error)
            self.send(header | {"error": self.error})
            return
        self.send(*protocol.detail_message(header, smap, self.trace.axis_labels(*smap.shape[:2])))

    def _on_message(self, _widget: object, content: Any, _buffers: list[bytes]) -> None:
        """A message from the view; one that does not fit is shown in the error banner, the widget stays as it was."""
        try:
            request = protocol.parse(content)
            if isinstance(request, protocol.PickRegion):
                layout = self.trace.image_layouts[self.image_index]
                self.region = regions.region_from_view(request, layout.size, layout.view().grid)
        except (ValueError, t.TraitError) as error:
            self.error = str(error)
            return
        if isinstance(request, protocol.ComputeAll):
            self.compute_all()
        elif isinstance(request, protocol.Select):
            self._request_id = request.id
            try:
                if request.token == self.token:
                    self.error = ""
                    self._send_detail()
                else:
                    self.token = request.token
            except t.TraitError as error:
                self.error = str(error)
                self.send(protocol.detail_error(self._request_id, self.token, self.error))
            finally:
                self._request_id = 0

    @t.validate("token", "compare_token", "mode", "pipeline", "image_index", "region")
    def _valid(self, proposal: dict[str, Any]) -> Any:
        """Refuse a value the widget cannot show, with a TraitError that says what to pass instead."""
        checks: dict[str, Callable[[Any], Any]] = {
            "token": self._maps.previews.check,
            "compare_token": lambda value: None if value is None else self._maps.previews.check(value),
            "mode": lambda value: check_mode(value, self._methods, self.trace),
            "pipeline": check_pipeline,
            "image_index": lambda value: check_image_index(value, self.trace),
            "region": lambda value: regions.check_region(value, self.trace.image_layouts[self.image_index]),
        }
        try:
            return checks[proposal["trait"].name](proposal["value"])
        except ValueError as error:
            raise t.TraitError(str(error)) from None

    # Observers run in the order of their names (traitlets sorts them): a new name can change what the banner says.

    @t.observe("token")
    def _on_token(self, _change: dict[str, Any]) -> None:
        if self._live:
            self.error = ""
            self.focus = answer_reliance.focus_state(self.trace, self.token)
            self._send_detail()

    @t.observe("mode", "image_index", "pipeline")
    def _on_method(self, _change: dict[str, Any]) -> None:
        if self._live:
            self._maps.forget()
            self.error = ""
            self.heads = []
            self._refresh_previews()
            self._send_detail()

    @t.observe("layer_reduce", "head_reduce")
    def _on_reduce(self, _change: dict[str, Any]) -> None:
        if self._live:
            self.error = ""
            self._refresh_previews()

    @t.observe("region", "mode", "layer_reduce", "head_reduce")
    def _on_region(self, _change: dict[str, Any]) -> None:
        """Score ``region`` with ``tokens_for``: the current image, aggregation and method ("attn" for a method that
        is not a string mode)."""
        if not self._live:
            return
        score = lambda: regions.score_region(self.trace, self.region, self._controls())  # noqa: E731
        self.region_scores = {} if self.region is None else self._or_banner(score, {})

    @t.observe("image_index")
    def _on_region_image(self, _change: dict[str, Any]) -> None:
        if self._live:
            self.region = None

    @t.observe("token", "compare_token", "mode", "image_index", "pipeline", "layer_reduce", "head_reduce", "heads")
    def _on_compare(self, _change: dict[str, Any]) -> None:
        """Show ``lib.difference`` of the selected token's map and ``compare_token``'s, both as shown."""
        if self._live:
            self.comparison = {} if self.compare_token is None else self._or_banner(self._comparison, {})

    def _comparison(self) -> dict[str, Any]:
        token, other = self.token, cast(int, self.compare_token)
        first, second = (self._maps.shown(self._maps.compute(p), self.heads) for p in (token, other))
        return regions.comparison_state(token, other, self.mode, self.image_index, first, second)

    @property
    def token_scores(self) -> regions.TokenScores | None:
        """``trace.tokens_for(w.region, ...)`` as the strip shows it, labelled: position -> score for the tokens
        with a map, printed as a table with each token's text; ``.tensor`` is the FloatTensor [T] (NaN: no map).
        None without a region."""
        return regions.token_scores(self.region_scores, self.tokens["text"])

    def close(self) -> None:
        """Close the widget and its ``layout``: ipywidgets leaves a DOMWidget's Layout open, alive in the kernel."""
        layout = self.layout
        super().close()
        layout.close()

    def to_html(self, path: str | Path, *, title: str | None = None, grid_budget_mib: float = GRID_BUDGET_MIB) -> Path:
        """Write one self-contained HTML file (bundle, styles and data inlined; no network needed) that works as the
        widget does, for the answer's tokens, without a kernel.

        The page holds, for every method of the menu, every token's aggregated map that needs no backward pass and
        the answer's tokens' maps (a backward pass each for a gradient method, computed here), with the current
        pipeline, image and aggregation; the layers x heads maps of the answer's tokens, the current method's first,
        up to ``grid_budget_mib`` MiB of float32 (the page says which tokens were left out); and a heading with the
        prompt and the answer. In it, the method menu, the grid, region drag and compare work from those maps; the
        aggregation and the image stay as they are. Returns the path written.

        Args:
            path: the file to write.
            title: the page's title; default: "Saliency: " and the prompt.
            grid_budget_mib: how many MiB of layers x heads maps the page may hold.
        """
        state = self.get_state(list(SaliencyWidget.class_own_traits(sync=True)))
        held = static_state(
            self.trace, self._methods, self._controls(), (self.mode, self._maps.previews), grid_budget_mib
        )
        state["previews"] = held["methods"][self.mode]["previews"]
        state["static"] = held
        return write_html(path, state, title if title is not None else f"Saliency: {held['heading']['prompt']}")

    def _ipython_display_(self) -> None:
        """Display the live view and after it a still picture of the map on screen, for pages where the view cannot
        run (nbconvert's HTML, GitHub); next to a live view the picture hides itself (``snapshot.py``)."""
        from IPython.display import display

        # Drawn before the view is shown: the view's first request then finds the kernel free.
        still = self.snapshot()
        bundle = self._repr_mimebundle_()
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        display(data, metadata=metadata, raw=True)
        display({"text/html": still, "text/plain": ""}, raw=True)

    def snapshot(self) -> str:
        """Self-contained HTML: the map on screen (``w.map``) over its picture, with a colour bar and a caption."""
        try:
            shown = self.map
            aggregation = (
                f"heads {', '.join(f'L{layer}H{head}' for layer, head in self.heads)}"
                if self.heads
                else f"{self.layer_reduce} over layers, {self.head_reduce} over heads"
            )
            text = snapshot.caption(
                self.tokens["text"], self.token, self.compare_token, self.mode, aggregation, snapshot.is_flat(shown)
            )
            png = snapshot.map_png(shown, self._pictures[self.image_index], self.colormap)
        except Exception as error:  # a still picture must never stop the live view from showing
            return f"<div class='vlsw-snapshot'>{html.escape(protocol.describe(error))}</div>"
        return snapshot.snapshot_html(png, text)
