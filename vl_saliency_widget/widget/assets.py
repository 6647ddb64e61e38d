"""The front end's built files in ``static/`` (``npm run build`` writes them), or a stand-in that says how to build."""

from __future__ import annotations

import json
from pathlib import Path

STATIC = Path(__file__).parent / "static"

_MISSING_BUNDLE = f"""
export default {{ render({{ el }}) {{ el.textContent = {
    json.dumps(
        f"The saliency widget's front end is not built ({STATIC / 'widget.js'} is missing): "
        "run `npm ci && npm run build` in the repository root, or reinstall with `pip install .`."
    )
}; }} }};
"""


def bundle(name: str) -> Path | str:
    """``static/name`` when it is built; else, for a script, one that shows how to build it, for styles nothing."""
    path = STATIC / name
    return path if path.is_file() else (_MISSING_BUNDLE if name.endswith(".js") else "")
