"""The widget as one self-contained HTML file: bundle, styles and state inlined, no network needed."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from .assets import STATIC
from .serialize import to_json_state


def standalone_page(
    state: dict[str, Any],
    title: str,
    *,
    script: str = "standalone.js",
    styles: str = "widget.css",
    mount: str = "VLSaliencyWidget",
    element: str = "saliency-widget",
    state_id: str = "saliency-state",
    allow_nan: bool = True,
) -> str:
    """The page that mounts a standalone bundle (``js/standalone.ts``, or the gallery's) on ``state`` (the synced
    traits, buffers included, in the JSON element ``state_id``; ``allow_nan=False`` refuses NaN, which JSON.parse
    cannot read): ``{mount}.mount(element, state)`` once the page has loaded.

    Raises:
        FileNotFoundError: the bundle is not built.
    """
    bundle, css = STATIC / script, STATIC / styles
    if not bundle.is_file() or not css.is_file():
        raise FileNotFoundError(f"{bundle} is missing: build the front end with `npm ci && npm run build`.")
    # Neither the state nor the bundle may hold "</script", which would end their <script> element early.
    inline_state = json.dumps(to_json_state(state), allow_nan=allow_nan).replace("<", "\\u003c")
    inline_script = bundle.read_text().replace("</script", "<\\/script")
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{css.read_text()}</style></head>\n"
        f"<body><div id='{element}'></div>\n"
        f"<script type='application/json' id='{state_id}'>{inline_state}</script>\n"
        f"<script>{inline_script}</script>\n"
        f"<script>{mount}.mount(document.getElementById('{element}'), "
        f"JSON.parse(document.getElementById('{state_id}').textContent));</script>\n"
        "</body></html>\n"
    )


def write_html(path: str | Path, state: dict[str, Any], title: str) -> Path:
    """Write ``standalone_page(state, title)`` to ``path`` (UTF-8) and return the path."""
    target = Path(path)
    target.write_text(standalone_page(state, title), encoding="utf-8")
    return target
