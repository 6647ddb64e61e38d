"""A still picture of the widget for pages without a kernel: the map on screen over its picture, drawn by the
package's matplotlib overlay, with a caption, as self-contained HTML.

The widget displays it as a second output after its live view (``SaliencyWidget._ipython_display_``): a notebook
converted to HTML (``jupyter nbconvert --execute --to html``) or rendered by GitHub shows the picture where no
widget can run. In JupyterLab and Notebook 7 the snapshot's own style hides it right after a live view.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from ..core.map import SaliencyMap
from ..viz.overlay import overlay

HIDE_AFTER_LIVE_VIEW = (
    ".jp-OutputArea-child:has(.vlsw-root) + .jp-OutputArea-child:has(.vlsw-snapshot) { display: none; }"
)
"""The snapshot's style: hidden when the output before it holds the widget's live view (JupyterLab's DOM)."""
FIGSIZE = (4.0, 3.2)
"""The snapshot's size in inches (72 pixels each)."""


def is_flat(smap: SaliencyMap) -> bool:
    """Whether the [1, 1, h, w] map is one value everywhere (or has no finite value): it has nothing to show."""
    values = smap.numpy()[0, 0]
    finite = values[np.isfinite(values)]
    return finite.size == 0 or bool(finite.min() == finite.max())


def map_png(smap: SaliencyMap, picture: Image.Image, colormap: str) -> bytes:
    """PNG bytes of ``smap`` [1, 1, h, w] over ``picture`` with its colour bar (``viz.overlay``: a map with both
    signs on a diverging scale centred on 0); a constant map leaves the picture uncoloured."""
    if is_flat(smap):
        figure = Figure(figsize=FIGSIZE)
        ax = figure.add_subplot()
        ax.imshow(np.asarray(picture.convert("RGB")))
        ax.set_axis_off()
    else:
        values = smap.numpy()[0, 0]
        signed = bool(values.min() < 0 < values.max())  # overlay's test: then its diverging scale, else ours
        style: dict[str, Any] = {} if signed else {"cmap": colormap}
        figure = overlay(smap, picture, title=None, figsize=FIGSIZE, **style)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()


def caption(text: Sequence[str], token: int, compare_token: int | None, mode: str, aggregation: str, flat: bool) -> str:
    """What the snapshot shows, as the view's caption says it: ``"green" (position 75) · attn · mean over layers,
    mean over heads``, the compared token's after "minus", and for a constant map that it has nothing to show."""

    def named(position: int) -> str:
        return f"{json.dumps(text[position])} (position {position})"

    shown = named(token) if compare_token is None else f"{named(token)} minus {named(compare_token)}"
    return f"{shown} · {mode} · {aggregation}" + (" · the same value everywhere: nothing to show" if flat else "")


def snapshot_html(png: bytes, caption: str) -> str:
    """The snapshot: the PNG inlined, ``caption`` under it (escaped), and the style that hides it after a live
    view."""
    text = html.escape(caption)
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<div class="vlsw-snapshot" style="font-family: sans-serif; font-size: 13px; max-width: 420px">'
        f"<style>{HIDE_AFTER_LIVE_VIEW}</style>"
        f'<img src="data:image/png;base64,{data}" alt="{text}" style="max-width: 100%">'
        f"<div>{text}</div>"
        '<div style="opacity: 0.7">A still picture of the saliency widget: run the notebook to explore it.</div>'
        "</div>"
    )
