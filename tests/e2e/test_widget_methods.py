"""Image to text and compare mode in a real JupyterLab: what the strip and canvas show is what Python computed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.e2e

SETUP = """
from tests.widget.synthetic import synthetic_trace
from vl_saliency_widget.widget import SaliencyWidget

words = [" a", " red", " square", " left", " of", " a", " blue", " dot"]
trace = synthetic_trace(words, layers=2, heads=2, grid=(4, 6))
w = SaliencyWidget(trace, opacity=1.0, smooth=False)
w
"""

IDLE = """() => document.querySelector(".vlsw-root")?.dataset.busy === "false"
    && document.querySelector("[data-testid=heatmap]")?.dataset.grid !== undefined"""

# Per colour sign, how many canvas pixels are clearly red (r > b + 60) and clearly blue (b > r + 60).
SIGNS = """(canvas) => {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let red = 0, blue = 0;
    for (let i = 0; i < data.length; i += 4) {
        if (data[i] > data[i + 2] + 60) red += 1;
        if (data[i + 2] > data[i] + 60) blue += 1;
    }
    return { red, blue };
}"""


@pytest.fixture(scope="module")
def nb(browser: Any, lab: Any) -> Any:
    page = lab.open_notebook(browser, "methods.ipynb", [SETUP])
    page.wait(IDLE)
    yield page
    page.close()


def test_dragging_a_box_tints_tokens_by_tokens_for(nb: Any) -> None:
    canvas = nb.page.locator("[data-testid=heatmap]")
    box = canvas.bounding_box()
    # From the top-left corner to the middle of the picture: the top-left quarter.
    nb.page.mouse.move(box["x"] + 2, box["y"] + 2)
    nb.page.mouse.down()
    nb.page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3, steps=4)
    nb.page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=4)
    nb.page.mouse.up()
    nb.wait("() => document.querySelectorAll('[data-testid=token].scored').length > 0")
    region = nb.value("list(w.region)")
    assert region[0] < 2 and region[1] < 2 and abs(region[2] - 42) < 2 and abs(region[3] - 28) < 2, region
    expected = np.asarray(nb.value("[None if s != s else s for s in trace.tokens_for(w.region).tolist()]"), float)
    tints = nb.page.eval_on_selector_all(
        "[data-testid=token]",
        """els => els.map((e) => ({
            position: Number(e.dataset.index),
            region: e.dataset.region === undefined ? null : Number(e.dataset.region),
            background: getComputedStyle(e).backgroundColor,
        }))""",
    )
    shown = {t["position"]: t for t in tints}
    scored = [p for p in range(len(expected)) if not np.isnan(expected[p])]
    assert scored and all(shown[p]["region"] is not None for p in scored)
    assert all(t["region"] is None for t in tints if t["position"] not in scored), "a token without a map is tinted"
    top = max(scored, key=lambda p: expected[p])
    assert max(scored, key=lambda p: shown[p]["region"]) == top
    assert shown[top]["region"] == 1.0 and shown[top]["background"].startswith("rgba(0, 150, 70")
    for p in scored:
        assert abs(shown[p]["region"] - expected[p] / expected[top]) < 2e-3
    outline = nb.page.locator("[data-testid=region]")
    assert outline.is_visible()
    outlined, frame = outline.bounding_box(), box
    assert abs(outlined["width"] - frame["width"] / 2) < 3 and abs(outlined["height"] - frame["height"] / 2) < 3
    nb.page.click("[data-testid=clear-region]")
    nb.wait("() => document.querySelectorAll('[data-testid=token].scored').length === 0")
    assert nb.value("w.region is None") and not outline.is_visible()


def test_shift_click_compares_two_tokens_on_a_diverging_scale(nb: Any) -> None:
    positions = nb.value("trace.text_positions")
    a, b = positions[-1], positions[1]
    nb.run(f"w.token = {a}")
    nb.wait(f"() => document.querySelector('[data-testid=heatmap]').dataset.token === '{a}'")
    nb.page.click(f"[data-testid=token][data-index='{b}']", modifiers=["Shift"])
    nb.page.mouse.move(2, nb.page.viewport_size["height"] - 2)
    nb.wait("() => document.querySelector('[data-testid=heatmap]').dataset.source === 'compare'")
    assert nb.value("w.compare_token") == b and nb.value("w.token") == a
    signs = nb.page.eval_on_selector("[data-testid=heatmap]", SIGNS)
    assert signs["red"] > 0 and signs["blue"] > 0, signs
    low, high = nb.page.eval_on_selector(".vlsw-heatmap", "e => [Number(e.dataset.min), Number(e.dataset.max)]")
    assert low == pytest.approx(-high) and high > 0
    expected = np.asarray(nb.value("w.map.numpy()[0, 0].tolist()"))
    assert high == pytest.approx(float(np.abs(expected).max()), rel=1e-5)
    strings = nb.value("trace.token_strings")
    legend = nb.page.inner_text("[data-testid=compare-legend]")
    assert f'red: "{strings[a]}" puts more' in legend and f'blue: "{strings[b]}" puts more' in legend
    nb.page.click("[data-testid=compare]")
    nb.wait("() => document.querySelector('[data-testid=heatmap]').dataset.source === 'selection'")
    assert nb.value("w.compare_token") is None
