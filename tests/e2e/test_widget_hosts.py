"""One widget in every notebook host: JupyterLab 4, Jupyter Notebook 7 and marimo (``mo.ui.anywidget``), each in a real
browser. The same trace and the same steps in each: render, click a token, hover, the layers x heads grid, compare,
region drag; after each step the canvas shows what the kernel computed, and the kernel holds what the view asked for.

The kernel is read through the host: in the Jupyter hosts by running code in the notebook's kernel, in marimo (which
runs no code sent from the page) through a button whose cell shows the Python state as JSON.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import marimo_app
from test_widget_browser import READ_CANVAS, assert_shows
from test_widget_methods import SIGNS

pytestmark = pytest.mark.e2e

SETUP = """
from tests.widget.synthetic import synthetic_trace
from vl_saliency_widget.widget import SaliencyWidget

words = [" a", " red", " square", " left", " of", " a", " blue", " dot"]
trace = synthetic_trace(words, layers=2, heads=2, grid=(4, 6))
# Gray, opaque and blocky: each cell's grey level on the canvas reads back its value.
w = SaliencyWidget(trace, colormap="gray", opacity=1.0, smooth=False)


def python_state():
    \"\"\"What the kernel holds, as JSON: the selection, the map on screen [h, w] and the region's token scores.\"\"\"
    scores = None if w.region is None else [None if s != s else s for s in trace.tokens_for(w.region).tolist()]
    return {
        "token": w.token,
        "compare_token": w.compare_token,
        "heads": w.heads,
        "region": None if w.region is None else [float(v) for v in w.region],
        "map": w.map.numpy()[0, 0].tolist(),
        "region_scores": scores,
    }
"""

MARIMO = """
import marimo

app = marimo.App()


@app.cell
def _():
    import html
    import json

    import marimo as mo
{setup}
    view = mo.ui.anywidget(w)
    view
    return html, json, mo, python_state, view


@app.cell
def _(mo):
    read = mo.ui.button(value=0, on_click=lambda count: count + 1, label="read the Python state")
    read
    return (read,)


@app.cell
def _(html, json, mo, python_state, read):
    mo.Html(f"<pre id='python-state' data-reads='{{read.value}}'>{{html.escape(json.dumps(python_state()))}}</pre>")
    return


if __name__ == "__main__":
    app.run()
"""
"""The marimo notebook: SETUP, the widget through ``mo.ui.anywidget``, and a button that shows ``python_state()``."""

HEATMAP = "[data-testid=heatmap]"


class Host:
    """A page of one host showing the widget, and a way to read the kernel's state."""

    def __init__(self, page: Any, read: Any) -> None:
        self.page = page
        self._read = read

    def python(self) -> dict[str, Any]:
        """``python_state()`` in the page's kernel."""
        return dict(self._read())

    def wait_shown(self, source: str, token: int | None = None) -> None:
        """Wait until the widget rests (no request in flight) on a map of ``source`` and ``token``."""
        token_attr = "" if token is None else f"[data-token='{token}']"
        self.page.wait_for_selector(
            f".vlsw-root[data-busy=false] {HEATMAP}[data-grid][data-source={source}]{token_attr}", state="attached"
        )

    def canvas(self) -> dict[str, Any]:
        return dict(self.page.eval_on_selector(HEATMAP, READ_CANVAS))

    def park_pointer(self) -> None:
        """Move the pointer off the token strip (a token under a resting pointer is a hover preview)."""
        self.page.mouse.move(2, self.page.viewport_size["height"] - 2)

    def tokens(self) -> list[int]:
        """Positions of the strip's mappable text tokens."""
        strip = self.page.locator("[data-testid=token].mappable")
        return [int(i) for i in strip.evaluate_all("els => els.map((e) => e.dataset.index)")]


def _jupyter_host(server: Any, browser: Any, name: str) -> Iterator[Host]:
    nb = server.open_notebook(browser, name, [SETUP, "w"])
    yield Host(nb.page, lambda: nb.value("python_state()"))
    nb.close()


def _marimo_host(browser: Any, base: Path) -> Iterator[Host]:
    notebook = base / "hosts.py"
    notebook.write_text(MARIMO.format(setup=textwrap.indent(SETUP, "    ")))
    reads = 0
    with marimo_app(notebook, base) as server:
        page = server.open(browser)

        def read() -> dict[str, Any]:
            nonlocal reads
            reads += 1
            page.click("text=read the Python state")
            shown = page.wait_for_selector(f"#python-state[data-reads='{reads}']", state="attached")
            return dict(json.loads(shown.text_content()))

        yield Host(page, read)
        page.context.close()


@pytest.fixture(scope="module", params=["jupyterlab", "notebook7", "marimo"])
def host(request: pytest.FixtureRequest, browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    if request.param == "marimo":
        pages = _marimo_host(browser, tmp_path_factory.mktemp("marimo"))
    else:
        server = request.getfixturevalue("lab" if request.param == "jupyterlab" else request.param)
        pages = _jupyter_host(server, browser, f"hosts-{request.param}.ipynb")
    shown = next(pages)
    shown.wait_shown("selection")
    yield shown
    next(pages, None)


def test_the_widget_renders_the_map_the_kernel_computed(host: Host) -> None:
    state = host.python()
    host.wait_shown("selection", state["token"])
    assert_shows(host.canvas(), np.asarray(state["map"]))


def test_a_click_selects_the_token_in_the_kernel(host: Host) -> None:
    before = host.canvas()
    target = next(t for t in host.tokens() if t != before["token"])
    host.page.click(f"[data-testid=token][data-index='{target}']")
    host.park_pointer()
    host.wait_shown("selection", target)
    state = host.python()
    assert state["token"] == target, "the click did not reach w.token"
    after = host.canvas()
    assert after["checksum"] != before["checksum"], "the heatmap did not change"
    assert_shows(after, np.asarray(state["map"]))


def test_hover_previews_the_map_a_click_then_shows(host: Host) -> None:
    selected = host.python()["token"]
    hovered = next(t for t in host.tokens() if t != selected)
    host.page.hover(f"[data-testid=token][data-index='{hovered}']")
    host.page.wait_for_selector(f"{HEATMAP}[data-source=hover][data-token='{hovered}']", state="attached")
    preview = host.canvas()
    host.page.click(f"[data-testid=token][data-index='{hovered}']")
    host.park_pointer()
    host.wait_shown("selection", hovered)
    assert_shows(preview, np.asarray(host.python()["map"]))


def test_the_head_grid_shows_one_head_and_goes_back(host: Host) -> None:
    token = host.python()["token"]
    host.page.locator("[data-testid=head-cell][data-layer='1'][data-head='0']").first.click()
    host.park_pointer()
    host.wait_shown("heads", token)
    state = host.python()
    assert state["heads"] == [[1, 0]]
    assert_shows(host.canvas(), np.asarray(state["map"]))
    host.page.click("[data-testid=aggregate]")
    host.wait_shown("selection", token)
    assert host.python()["heads"] == []


def test_shift_click_compares_two_tokens_in_the_kernel(host: Host) -> None:
    tokens = host.tokens()
    a, b = tokens[-1], tokens[1]
    host.page.click(f"[data-testid=token][data-index='{a}']")
    host.park_pointer()
    host.wait_shown("selection", a)
    host.page.click(f"[data-testid=token][data-index='{b}']", modifiers=["Shift"])
    host.park_pointer()
    host.wait_shown("compare")
    state = host.python()
    assert state["token"] == a and state["compare_token"] == b
    signs = host.page.eval_on_selector(HEATMAP, SIGNS)
    assert signs["red"] > 0 and signs["blue"] > 0, signs
    host.page.click("[data-testid=compare]")
    host.wait_shown("selection", a)
    assert host.python()["compare_token"] is None


def test_dragging_a_box_scores_the_tokens_in_the_kernel(host: Host) -> None:
    box = host.page.locator(HEATMAP).bounding_box()
    host.page.mouse.move(box["x"] + 2, box["y"] + 2)
    host.page.mouse.down()
    host.page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3, steps=4)
    host.page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=4)
    host.page.mouse.up()
    host.page.wait_for_selector("[data-testid=token].scored", state="attached")
    state = host.python()
    left, top, right, bottom = state["region"]
    assert left < 2 and top < 2 and abs(right - 42) < 2 and abs(bottom - 28) < 2, state["region"]
    expected = np.asarray([np.nan if s is None else s for s in state["region_scores"]])
    shown = {
        int(t["position"]): t["region"]
        for t in host.page.locator("[data-testid=token]").evaluate_all(
            "els => els.map((e) => ({ position: e.dataset.index, region: e.dataset.region ?? null }))"
        )
    }
    scored = [p for p in range(len(expected)) if not np.isnan(expected[p])]
    top_token = max(scored, key=lambda p: expected[p])
    assert scored and all(shown[p] is not None for p in scored)
    for p in scored:
        assert abs(float(shown[p]) - expected[p] / expected[top_token]) < 2e-3
    host.page.click("[data-testid=clear-region]")
    host.page.wait_for_selector("[data-testid=token].scored", state="detached")
    assert host.python()["region"] is None
