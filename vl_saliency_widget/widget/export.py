"""The widget as one self-contained HTML file: bundle, styles and state inlined, no network needed."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from .assets import STATIC
from .serialize import to_json_state


def standalone_page(state: dict[str, Any], title: str) -> str:
    """The page that mounts ``js/standalone.ts`` on ``state`` (the widget's synced traits, buffers included).

    Raises:
        FileNotFoundError: the standalone bundle is not built.
    """
    script, styles = STATIC / "standalone.js", STATIC / "widget.css"
    if not script.is_file():
        raise FileNotFoundError(f"{script} is missing: build the front end with `npm ci && npm run build`.")
    # Neither the state nor the bundle may hold "</script", which would end their <script> element early.
    inline_state = json.dumps(to_json_state(state)).replace("<", "\\u003c")
    inline_script = script.read_text().replace("</script", "<\\/script")
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{styles.read_text()}</style></head>\n"
        "<body><div id='saliency-widget'></div>\n"
        f"<script type='application/json' id='saliency-state'>{inline_state}</script>\n"
        f"<script>{inline_script}</script>\n"
        "<script>VLSaliencyWidget.mount(document.getElementById('saliency-widget'), "
        "JSON.parse(document.getElementById('saliency-state').textContent));</script>\n"
        "</body></html>\n"
    )


def write_html(path: str | Path, state: dict[str, Any], title: str) -> Path:
    """Write ``standalone_page(state, title)`` to ``path`` (UTF-8) and return the path."""
    target = Path(path)
    target.write_text(standalone_page(state, title), encoding="utf-8")
    return target
