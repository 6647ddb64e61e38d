"""SaliencyWidget: where the model looked, token by token, as a live JupyterLab view of a Trace."""

from __future__ import annotations

import html
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anywidget
import numpy as np
import torch
import traitlets as t
from PIL import Image

from ..core.map import SaliencyMap
from ..core.method import Method, needs_of
from ..core.trace import Trace
from ..lib import METHODS, HeadRanking, difference
from ..selectors import AbsoluteIndex
from .regions import outline, ranking_state, region_from_view, scores_state
from .serialize import encode_array, encode_picture, pack_message, to_json_state

if TYPE_CHECKING:
    from ..transforms.layers import Reduction


STATIC = Path(__file__).parent / "static"
REDUCTIONS = ("mean", "sum", "max", "min")
COLORMAPS = ("inferno", "viridis", "gray")
DETAIL_CACHE_SIZE = 16
"""How many per-token [layers, heads, h, w] maps the widget keeps, most recently shown first."""

_MISSING_BUNDLE = f"""
export default {{ render({{ el }}) {{ el.textContent = {
    json.dumps(
        f"The saliency widget's front end is not built ({STATIC / 'widget.js'} is missing): "
        "run `npm ci && npm run build` in the repository root, or reinstall with `pip install .`."
    )
}; }} }};
"""


def _bundle(name: str) -> Path | str:
    path = STATIC / name
    return path if path.is_file() else (_MISSING_BUNDLE if name.endswith(".js") else "")


def _builtin_methods(trace: Trace) -> dict[str, Method]:
    """The method menu a trace supports: its string modes, and the built-in methods whose needs it holds."""
    methods: dict[str, Method] = {mode: mode for mode in trace.modes}
    methods |= {name: method for name, method in METHODS.items() if not trace.missing(needs_of(method))}
    return methods


def _describe(error: BaseException) -> str:
    """One line for the widget's error banner."""
    return f"{type(error).__name__}: {error}"


def _pictures(image: Image.Image | Sequence[Image.Image] | None, trace: Trace) -> list[Image.Image]:
    """The pictures to draw under the maps, one per image of the prompt, checked."""
    if image is None:
        return list(trace.images)
    pictures = [image] if isinstance(image, Image.Image) else image
    if isinstance(pictures, (str, bytes, os.PathLike)) or not isinstance(pictures, Sequence):
        raise TypeError(
            f"image= takes a PIL.Image.Image or a list of them (one per image of the prompt), not "
            f"{type(image).__name__}: open a file with PIL.Image.open(path), convert an array with "
            "PIL.Image.fromarray(array)."
        )
    wrong = sorted({type(p).__name__ for p in pictures if not isinstance(p, Image.Image)})
    if wrong:
        raise TypeError(
            f"image= holds {', '.join(wrong)} where PIL pictures are expected: open files with PIL.Image.open(path), "
            "convert arrays with PIL.Image.fromarray(array)."
        )
    if len(pictures) != trace.total_images:
        raise ValueError(
            f"Got {len(pictures)} picture(s) for a trace of {trace.total_images} image(s): pass one picture per "
            "image of the prompt, in prompt order, or leave image= out to draw the captured pictures."
        )
    return list(pictures)


class SaliencyWidget(anywidget.AnyWidget):  # type: ignore[misc]
    """Token strip, heatmap over the image, layers x heads grid and method controls for one Trace.

    ``display(SaliencyWidget(trace))`` in JupyterLab. Selecting a token (click, arrow keys, or ``w.token = pos``)
    computes ``trace.map(AbsoluteIndex(pos), mode, image_index)``, applies ``pipeline`` and shows the result;
    ``w.map`` is the map on screen. Hovering a token shows its aggregated map at once from ``previews``, computed
    for every token when the method, pipeline, aggregation or image changes.

    Args:
        trace: what ``SaliencyExtractor.capture`` returned.
        image: the picture(s) to draw under the maps, one per image of the prompt; default: ``trace.images``.
            Each map covers its whole picture.
        mode: the method to start with: "attn", "grad", "gradcam", "agcam", a key of ``methods``, or a trace
            transform ``fn(attn, grad) -> SaliencyMap`` (added to the menu under its ``__name__``).
        pipeline: a transform applied to every [layers, heads, h, w] map before it is shown, e.g.
            ``T.abs() >> T.normalize()``.
        methods: extra trace transforms for the method menu, by name.
        token: absolute position to select first; default: the first generated token.
        head_ranking: what ``lib.rank_localization_heads`` returned; the grid marks its top heads with their rank.

    Image to text: ``w.region = (left, top, right, bottom)`` (picture pixels), a cell ``(row, col)`` or a mask, or
    a click or drag on the picture, scores every token with ``trace.tokens_for`` (the current method when it is a
    string mode, else "attn"); ``w.token_scores`` holds them and the strip tints each token by its score.
    Compare: ``w.compare_token = pos`` (or shift-click a token) shows ``lib.difference`` of the selected token's map
    and that token's, both through the same pipeline, aggregation and heads: positive where the selected token
    puts more.

    Traits synced with the view: ``token`` (absolute position), ``mode``, ``image_index``, ``layer_reduce``,
    ``head_reduce``, ``heads`` ([[layer, head], ...] shown alone and averaged; empty: the aggregate),
    ``colormap``, ``opacity``, ``smooth``, ``error``.
    """

    _esm = _bundle("widget.js")
    _css = _bundle("widget.css")

    tokens = t.Dict().tag(sync=True)
    images: t.List[dict[str, Any]] = t.List().tag(sync=True)
    methods = t.List(t.Unicode()).tag(sync=True)
    previews = t.Dict().tag(sync=True)
    token = t.Int(0).tag(sync=True)
    mode = t.Unicode("attn").tag(sync=True)
    image_index = t.Int(0).tag(sync=True)
    layer_reduce = t.Enum(REDUCTIONS, "mean").tag(sync=True)
    head_reduce = t.Enum(REDUCTIONS, "mean").tag(sync=True)
    heads = t.List(t.List(t.Int(), minlen=2, maxlen=2)).tag(sync=True)
    colormap = t.Enum(COLORMAPS, "inferno").tag(sync=True)
    opacity = t.Float(0.6, min=0.0, max=1.0).tag(sync=True)
    smooth = t.Bool(True).tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    pipeline = t.Any(None)
    region = t.Any(None)
    region_scores = t.Dict().tag(sync=True)
    compare_token = t.Int(None, allow_none=True).tag(sync=True)
    comparison = t.Dict().tag(sync=True)
    head_ranking = t.Dict().tag(sync=True)

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
        if not isinstance(trace, Trace):
            raise TypeError(
                f"SaliencyWidget takes the Trace that SaliencyExtractor(model, processor).capture(...) returns, "
                f"not {type(trace).__name__}; to draw one map, use smap.agg().plot(image)."
            )
        for name, fn in {"mode": mode, **{f"methods[{k!r}]": v for k, v in (methods or {}).items()}}.items():
            if fn is not None and not isinstance(fn, str) and not callable(fn):
                raise TypeError(
                    f"{name} is {type(fn).__name__}; a method is a name from the menu ('attn', 'grad', 'gradcam', "
                    "...) or a trace transform fn(attn, grad) -> SaliencyMap, such as vl_saliency_widget.lib.gradcam."
                )
        self.trace = trace
        self._live = False
        self._methods: dict[str, Method] = _builtin_methods(trace) | dict(methods or {})
        if mode is not None and not isinstance(mode, str):
            name = getattr(mode, "__name__", type(mode).__name__)
            self._methods[name] = mode
            mode = name
        mappable = trace.text_positions
        if not mappable:
            raise ValueError("This trace has no token that can be mapped (no text token follows a text token).")
        first = token if token is not None else next((p for p in mappable if p >= trace.gen_start), mappable[0])
        self._request_id = 0
        self._cache: OrderedDict[int, SaliencyMap] = OrderedDict()
        self._preview_maps = np.zeros((len(mappable), 0, 0), dtype=np.float32)
        self._preview_ready = np.zeros(len(mappable), dtype=np.uint8)
        self._preview_row = {position: row for row, position in enumerate(mappable)}
        self._previews_sent = False
        pictures = _pictures(image, trace)
        super().__init__(
            tokens=self._token_strip(trace),
            images=[encode_picture(picture) for picture in pictures],
            methods=list(self._methods),
            mode=mode if mode is not None else next(iter(self._methods)),
            pipeline=pipeline,
            token=first,
            head_ranking=ranking_state(head_ranking, trace.axis_labels),
            **traits,
        )
        self._live = True
        self._refresh_previews()
        self.on_msg(self._on_message)

    # -- what the view is told once ----------------------------------------------------------------------

    @staticmethod
    def _token_strip(trace: Trace) -> dict[str, Any]:
        """Token strings, kinds and grounding: how much each text token attends to the image(s), in [0, 1]."""
        image_of = trace.image_of.numpy().astype(np.int32)
        grounding = np.zeros(len(trace.token_ids), dtype=np.float32)
        if "attn" in trace.modes:
            for i in range(trace.total_images):
                # Reduced before the gather, 64 MiB of rows at a time (Trace.maps): each attention entry read once.
                maps = trace.maps(trace.text_positions, "attn", i, layer_reduce="mean", head_reduce="mean")
                grounding[trace.text_positions] += maps[:, 0, 0].sum((-1, -2)).numpy()
            grounding /= max(float(grounding.max()), 1e-12)
        return {
            "strings": trace.token_strings,
            "special": trace.special_mask,
            "image_of": encode_array(image_of),
            "gen_start": trace.gen_start,
            "mappable": encode_array(np.asarray(trace.text_positions, dtype=np.int32)),
            "grounding": encode_array(grounding),
        }

    # -- maps --------------------------------------------------------------------------------------------

    def _compute(self, position: int) -> SaliencyMap:
        """The [layers, heads, h, w] map of the token at ``position`` for the current method and pipeline."""
        smap = self.trace.map(AbsoluteIndex(position), mode=self._methods[self.mode], image_index=self.image_index)
        return smap >> self.pipeline if self.pipeline is not None else smap

    def _detail(self, position: int) -> SaliencyMap:
        """``_compute(position)``, through a small cache that the method, pipeline and image reset."""
        if position in self._cache:
            self._cache.move_to_end(position)
            return self._cache[position]
        smap = self._cache[position] = self._compute(position)
        if len(self._cache) > DETAIL_CACHE_SIZE:
            self._cache.popitem(last=False)
        return smap

    def _reduced(self, smap: SaliencyMap) -> SaliencyMap:
        """``smap`` reduced over layers and heads as the controls say: [1, 1, h, w]."""
        return smap.agg(cast("Reduction", self.layer_reduce), cast("Reduction", self.head_reduce))

    def _aggregate(self, smap: SaliencyMap) -> np.ndarray:
        """float32 [h, w]: ``smap`` reduced over layers and heads as the controls say."""
        return self._reduced(smap).numpy()[0, 0].astype(np.float32)

    def _ready(self, position: int) -> bool:
        """Whether the current method can map ``position`` without a backward pass."""
        return self.mode == "attn" or self.trace.grad_ready(position)

    @property
    def map(self) -> SaliencyMap:
        """The map on screen, [1, 1, h, w]: the selected heads averaged, or the aggregate of all of them; with
        ``compare_token`` set, ``lib.difference`` of the selected token's and that token's."""
        shown = self._shown(self._detail(self.token))
        if self.compare_token is None:
            return shown
        return difference(shown, self._shown(self._detail(self.compare_token)))

    # -- previews: the aggregated map of every token, in one buffer --------------------------------------
    #
    # The ``previews`` trait shares memory with ``_preview_maps`` and ``_preview_ready``. A refresh (new method,
    # pipeline, image or reduction) starts new arrays and publishes them whole; a token computed later is written
    # into them in place and sent alone in a "preview" message, so a click never resends every token's map.

    def _refresh_previews(self) -> None:
        """Recompute the aggregated map of every token that is ready, and send them in one buffer."""
        self._preview_maps = np.zeros((len(self._preview_row), 0, 0), dtype=np.float32)
        self._preview_ready = np.zeros(len(self._preview_row), dtype=np.uint8)
        ready = [p for p in self._preview_row if self._ready(p)]
        method = self._methods[self.mode]
        try:
            if self.pipeline is None and isinstance(method, str):
                # No pipeline: every token's aggregate at once, reduced before the gather where that commutes.
                stacked = self.trace.maps(
                    ready,
                    method,
                    self.image_index,
                    layer_reduce=cast("Reduction", self.layer_reduce),
                    head_reduce=cast("Reduction", self.head_reduce),
                )
                for position, values in zip(ready, stacked[:, 0, 0].numpy(), strict=True):
                    self._store_preview(position, values.astype(np.float32))
            for position in ready:
                if not self._preview_ready[self._preview_row[position]]:
                    self._store_preview(position, self._aggregate(self._compute(position)))
        except Exception as error:
            self.error = _describe(error)
        self._publish_previews()

    def _store_preview(self, position: int, values: np.ndarray) -> None:
        """Keep ``values`` [h, w] as the preview of ``position``; a new map size starts new arrays."""
        if self._preview_maps.shape[1:] != values.shape:
            self._preview_maps = np.zeros((len(self._preview_row), *values.shape), dtype=np.float32)
            self._preview_ready = np.zeros(len(self._preview_row), dtype=np.uint8)
            self._previews_sent = False
        row = self._preview_row[position]
        self._preview_maps[row] = values
        self._preview_ready[row] = 1

    def _send_previews(self, positions: list[int]) -> None:
        """Tell the view about the previews of ``positions``: their rows alone, or everything after new arrays."""
        if not self._previews_sent:
            self._publish_previews()
            return
        rows = np.asarray([self._preview_row[p] for p in positions], dtype=np.int32)
        content, buffers = pack_message(
            {"type": "preview", "rows": encode_array(rows), "maps": encode_array(self._preview_maps[rows])}
        )
        self.send(content, buffers=buffers)

    def _publish_previews(self) -> None:
        """Send every preview: ``maps`` float32 [tokens, h, w] in ``tokens["mappable"]`` order, ``ready`` uint8."""
        self.previews = {"maps": encode_array(self._preview_maps), "ready": encode_array(self._preview_ready)}
        self._previews_sent = True

    def compute_all(self) -> None:
        """Compute the map of every token the current method has not computed yet (one backward pass each).

        The view shows the progress and each preview as it comes.
        """
        todo = [p for p in self._preview_row if not self._preview_ready[self._preview_row[p]]]
        try:
            for done, position in enumerate(todo):
                self.send({"type": "progress", "done": done, "total": len(todo)})
                self._store_preview(position, self._aggregate(self._compute(position)))
                self._send_previews([position])
        except Exception as error:
            self.error = _describe(error)
        self.send({"type": "progress", "done": len(todo), "total": len(todo)})

    # -- selection and the kernel round trip -------------------------------------------------------------

    def _send_detail(self) -> None:
        """Send the [layers, heads, h, w] map of the selected token, answering request ``_request_id``.

        Request id 0 marks an update that Python started (``w.token = ...``, ``w.pipeline = ...``).
        """
        header = {
            "type": "detail",
            "id": self._request_id,
            "token": self.token,
            "mode": self.mode,
            "image_index": self.image_index,
        }
        try:
            smap = self._detail(self.token)
            if not self._preview_ready[self._preview_row[self.token]]:
                self._store_preview(self.token, self._aggregate(smap))
                self._send_previews([self.token])
        except Exception as error:
            self.error = _describe(error)
            self.send(header | {"error": self.error})
            return
        layer_labels, head_labels = self.trace.axis_labels(smap.shape[0], smap.shape[1])
        labels = {"layer_labels": layer_labels, "head_labels": head_labels}
        content, buffers = pack_message(header | labels | {"detail": encode_array(smap.numpy().astype(np.float32))})
        self.send(content, buffers=buffers)

    def _on_message(self, _widget: object, content: Any, _buffers: list[bytes]) -> None:
        """Messages from the view: ``{"type": "select", "id": int, "token": int}`` and ``{"type": "compute_all"}``.

        A message that does not fit is reported in the widget's error banner; the widget stays as it was.
        """
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "compute_all":
            self.compute_all()
            return
        if kind == "region":
            self._region_from_view(content)
            return
        out_of_step = (
            "the front end and the Python package are out of step: rebuild the front end (npm run build) or "
            "reinstall the package, then reload the page."
        )
        if kind != "select":
            self.error = f"The view sent a message this widget does not know ({str(content)[:80]}); {out_of_step}"
            return
        request, token = content.get("id"), content.get("token")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (request, token)):
            self.error = f"The view asked for token {token!r} with request id {request!r}, not integers; {out_of_step}"
            return
        self._request_id = cast(int, request)
        try:
            if token == self.token:
                self.error = ""
                self._send_detail()
            else:
                self.token = cast(int, token)
        except t.TraitError as error:
            self.error = str(error)
            self.send({"type": "detail", "id": self._request_id, "token": self.token, "error": self.error})
        finally:
            self._request_id = 0

    @t.validate("token")
    def _valid_token(self, proposal: dict[str, Any]) -> int:
        position = int(proposal["value"])
        if position not in self._preview_row:
            raise t.TraitError(
                f"Position {position} cannot be mapped: choose one of trace.text_positions "
                f"({min(self._preview_row)}..{max(self._preview_row)}, text tokens that follow a text token)."
            )
        return position

    @t.validate("mode")
    def _valid_mode(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in self._methods:
            raise t.TraitError(
                f"Unknown method {proposal['value']!r}: choose one of {list(self._methods)}. The menu holds only "
                f"the methods this trace's data supports (it holds {' and '.join(self.trace.modes)}); capture with "
                "store_attns=True and store_grads=True for the attention and gradient methods."
            )
        return str(proposal["value"])

    @t.validate("pipeline")
    def _valid_pipeline(self, proposal: dict[str, Any]) -> Any:
        value = proposal["value"]
        if value is not None and not callable(value):
            raise t.TraitError(
                f"pipeline must be a transform SaliencyMap -> SaliencyMap (e.g. T.normalize(), or "
                f"T.abs() >> T.normalize()) or None, not {type(value).__name__}."
            )
        return value

    @t.validate("image_index")
    def _valid_image(self, proposal: dict[str, Any]) -> int:
        if not 0 <= proposal["value"] < self.trace.total_images:
            raise t.TraitError(f"image_index must be in 0..{self.trace.total_images - 1}.")
        return int(proposal["value"])

    @t.observe("token")
    def _on_token(self, _change: dict[str, Any]) -> None:
        if self._live:
            self.error = ""
            self._send_detail()

    @t.observe("mode", "image_index", "pipeline")
    def _on_method(self, _change: dict[str, Any]) -> None:
        if not self._live:
            return
        self._cache.clear()
        self.error = ""
        self.heads = []
        self._refresh_previews()
        self._send_detail()

    @t.observe("layer_reduce", "head_reduce")
    def _on_reduce(self, _change: dict[str, Any]) -> None:
        if not self._live:
            return
        self.error = ""
        self._refresh_previews()

    # -- image to text and compare -----------------------------------------------------------------------

    @property
    def token_scores(self) -> torch.Tensor | None:
        """FloatTensor [T]: ``trace.tokens_for(w.region, ...)`` as the strip shows it (NaN: no map); None without a
        region."""
        if not self.region_scores:
            return None
        spec = self.region_scores["scores"]
        return torch.from_numpy(np.frombuffer(spec["data"], dtype=np.float32).copy())

    def _region_mode(self) -> str:
        """The method ``tokens_for`` runs: the current one when it is a string mode, else "attn"."""
        method = self._methods[self.mode]
        return method if isinstance(method, str) else "attn"

    def _region_from_view(self, content: dict[str, Any]) -> None:
        """A click (``point``), drag (``box``) or clear (neither) on the picture, in fractions of the picture."""
        layout = self.trace.image_layouts[self.image_index]
        try:
            self.region = region_from_view(content, layout.size, layout.view().grid)
        except (ValueError, t.TraitError) as error:
            self.error = str(error)

    def _score_region(self) -> None:
        """Send ``trace.tokens_for(region)`` for the current image, method and aggregation (or nothing)."""
        if self.region is None:
            self.region_scores = {}
            return
        layout, mode = self.trace.image_layouts[self.image_index], self._region_mode()
        try:
            scores = self.trace.tokens_for(
                self.region,
                self.image_index,
                mode,
                layer_reduce=cast("Reduction", self.layer_reduce),
                head_reduce=cast("Reduction", self.head_reduce),
            )
            box = outline(self.region, layout.size, layout.view().grid)
        except Exception as error:
            self.error = _describe(error)
            self.region_scores = {}
            return
        self.region_scores = scores_state(scores, box, self.image_index, mode)

    def _shown(self, smap: SaliencyMap) -> SaliencyMap:
        """``smap`` [layers, heads, h, w] as the view shows it: the selected heads averaged, or the aggregate."""
        if not self.heads:
            return self._reduced(smap)
        layers, heads = smap.shape[:2]
        outside = [pair for pair in self.heads if not (0 <= pair[0] < layers and 0 <= pair[1] < heads)]
        if outside:
            raise IndexError(f"heads {outside} are outside this map's {layers} layers x {heads} heads; fix w.heads.")
        values = smap.tensor()
        return SaliencyMap(torch.stack([values[layer, head] for layer, head in self.heads]).mean(0)[None, None])

    def _compare(self) -> None:
        """Send ``difference(token's map, compare_token's map)``, [h, w], or nothing when not comparing."""
        if self.compare_token is None:
            self.comparison = {}
            return
        try:
            values = difference(self._shown(self._compute(self.token)), self._shown(self._compute(self.compare_token)))
        except Exception as error:
            self.error = _describe(error)
            self.comparison = {}
            return
        self.comparison = {
            "token": self.token,
            "compare_token": self.compare_token,
            "mode": self.mode,
            "image_index": self.image_index,
            "values": encode_array(values.numpy()[0, 0].astype(np.float32)),
        }

    @t.validate("region")
    def _valid_region(self, proposal: dict[str, Any]) -> Any:
        region = proposal["value"]
        if region is not None:
            layout = self.trace.image_layouts[self.image_index]
            try:
                outline(region, layout.size, layout.view().grid)
            except (ValueError, TypeError) as error:
                raise t.TraitError(f"w.region: {error}") from None
        return region

    @t.validate("compare_token")
    def _valid_compare(self, proposal: dict[str, Any]) -> int | None:
        value = proposal["value"]
        return None if value is None else self._valid_token(proposal)

    @t.observe("region", "mode", "layer_reduce", "head_reduce")
    def _on_region(self, _change: dict[str, Any]) -> None:
        if self._live:
            self._score_region()

    @t.observe("image_index")
    def _on_region_image(self, _change: dict[str, Any]) -> None:
        if self._live:
            self.region = None

    @t.observe("token", "compare_token", "mode", "image_index", "pipeline", "layer_reduce", "head_reduce", "heads")
    def _on_compare(self, _change: dict[str, Any]) -> None:
        if self._live:
            self._compare()

    def close(self) -> None:
        """Close the widget and its ``layout``: ipywidgets leaves a DOMWidget's Layout open, alive in the kernel."""
        layout = self.layout
        super().close()
        layout.close()

    # -- export ------------------------------------------------------------------------------------------

    def to_html(self, path: str | Path, *, title: str = "Saliency") -> Path:
        """Write one self-contained HTML file (bundle, styles and data inlined; no network needed).

        Hovering and clicking tokens still switch the aggregated maps of the current method, pipeline and
        aggregation; the layers x heads grid needs a kernel. For a gradient method, call ``compute_all()`` first
        so that every token has its map. Returns the path written.
        """
        script, styles = STATIC / "standalone.js", STATIC / "widget.css"
        if not script.is_file():
            raise FileNotFoundError(f"{script} is missing: build the front end with `npm ci && npm run build`.")
        state = json.dumps(to_json_state(self.get_state(list(SaliencyWidget.class_own_traits(sync=True)))))
        state = state.replace("<", "\\u003c")
        inline_script = script.read_text().replace("</script", "<\\/script")
        page = (
            "<!doctype html>\n<html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{styles.read_text()}</style></head>\n"
            "<body><div id='saliency-widget'></div>\n"
            f"<script type='application/json' id='saliency-state'>{state}</script>\n"
            f"<script>{inline_script}</script>\n"
            "<script>VLSaliencyWidget.mount(document.getElementById('saliency-widget'), "
            "JSON.parse(document.getElementById('saliency-state').textContent));</script>\n"
            "</body></html>\n"
        )
        target = Path(path)
        target.write_text(page, encoding="utf-8")
        return target
