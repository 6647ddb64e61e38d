"""What the answer relies on, in a real JupyterLab: the reliance bars under the answer tokens, the image share chart
and the text attribution toggle show the core API's numbers (``trace.reliance``, ``trace.image_share``,
``trace.text_attribution``: the oracle)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e

SETUP = """
from tests.widget.synthetic import synthetic_trace
from vl_saliency_widget.selectors import AbsoluteIndex
from vl_saliency_widget.widget import SaliencyWidget

words = [" a", " red", " square", " left", " of", " a", " blue", " dot", " It", " is", " red"]
trace = synthetic_trace(words, layers=4, heads=2, grid=(4, 6), text_columns=True, reliance=True)
w = SaliencyWidget(trace)
w
"""

IDLE = """() => document.querySelector(".vlsw-root")?.dataset.busy === "false"
    && document.querySelector("[data-testid=heatmap]")?.dataset.grid !== undefined"""


@pytest.fixture(scope="module")
def nb(browser: Any, lab: Any) -> Any:
    page = lab.open_notebook(browser, "reliance.ipynb", [SETUP])
    page.wait(IDLE)
    yield page
    page.close()


def _nan_to_none(expression: str) -> str:
    return f"[None if v != v else v for v in ({expression}).tolist()]"


def test_reliance_bars_show_trace_reliance(nb: Any) -> None:
    delta = nb.value(_nan_to_none("trace.reliance().delta"))
    from_image = nb.value("trace.reliance().from_image.tolist()")
    nb.wait("() => document.querySelectorAll('[data-testid=token].relies').length > 0")
    marks = nb.page.eval_on_selector_all(
        "[data-testid=token]",
        """els => els.map((e) => ({
            position: Number(e.dataset.index),
            reliance: e.dataset.reliance === undefined ? null : Number(e.dataset.reliance),
            fromImage: e.dataset.fromImage ?? null,
            title: e.title,
            bar: e.dataset.reliance === undefined ? 0 : parseFloat(getComputedStyle(e, "::after").width),
            width: e.getBoundingClientRect().width,
        }))""",
    )
    scored = [p for p, d in enumerate(delta) if d is not None]
    assert scored
    top = max(abs(delta[p]) for p in scored)
    for mark in marks:
        p = mark["position"]
        if delta[p] is None:
            assert mark["reliance"] is None, f"position {p} is not scored but has a bar"
            continue
        assert abs(mark["reliance"] - delta[p]) < 1e-3
        assert mark["fromImage"] == ("yes" if from_image[p] else "no")
        assert "relies on the image" in mark["title"] and "nats" in mark["title"]
        expected_bar = max(1.0, mark["width"] * abs(delta[p]) / top)
        assert abs(mark["bar"] - expected_bar) < 1.5, (p, mark, expected_bar)
    legend = nb.page.locator("[data-testid=reliance-legend]")
    assert legend.is_visible() and "relies on the image" in legend.inner_text()


def test_image_share_chart_follows_the_selection(nb: Any) -> None:
    for position in nb.value("[trace.text_positions[-1], trace.text_positions[2]]"):
        nb.run(f"w.token = {position}")
        expected = nb.value(f"trace.image_share(AbsoluteIndex({position})).mean(-1).tolist()")
        label = nb.value(f"w.tokens['text'][{position}]").strip()
        nb.wait(
            """([label, n]) => document.querySelector('[data-testid=image-share]')?.textContent.includes(label)
                && document.querySelectorAll('[data-testid=share-bar]').length === n""",
            [label, len(expected)],
        )
        bars = nb.page.eval_on_selector_all(
            "[data-testid=share-bar]",
            """els => els.map((e) => ({
                layer: Number(e.dataset.layer),
                value: Number(e.dataset.value),
                height: e.getBoundingClientRect().height,
                box: e.parentElement.getBoundingClientRect().height,
            }))""",
        )
        assert [bar["layer"] for bar in bars] == list(range(len(expected)))
        for bar, value in zip(bars, expected, strict=True):
            assert 0 <= value <= 1
            assert abs(bar["value"] - value) < 1e-3
            assert abs(bar["height"] - value * bar["box"]) < 2.5, (bar, value)


def test_attribution_toggle_tints_earlier_tokens(nb: Any) -> None:
    position = nb.value("trace.text_positions[-1]")
    nb.run(f"w.token = {position}")
    expected = nb.value(_nan_to_none(f"trace.text_attribution(AbsoluteIndex({position}), 'attn')"))
    toggle = nb.page.locator("[data-testid=attribution-toggle]")
    assert toggle.is_visible()
    toggle.click()
    nb.wait("() => document.querySelectorAll('[data-testid=token].attributed').length > 0")
    assert toggle.get_attribute("aria-pressed") == "true"
    tints = nb.page.eval_on_selector_all(
        "[data-testid=token]",
        """els => els.map((e) => ({
            position: Number(e.dataset.index),
            value: e.dataset.attribution === undefined ? null : Number(e.dataset.attribution),
            tint: Number(e.style.getPropertyValue("--attribution") || "NaN"),
            background: getComputedStyle(e).backgroundColor,
        }))""",
    )
    scored = [p for p, v in enumerate(expected) if v is not None]
    top = max(expected[p] for p in scored)
    shown = {t["position"]: t for t in tints}
    assert all(p <= position - 1 for p in scored), "attribution after the query"
    for p, tint in shown.items():
        if expected[p] is None:
            assert tint["value"] is None, f"position {p} has no attribution but is tinted"
            continue
        assert abs(tint["value"] - expected[p]) < 1e-4
        assert abs(tint["tint"] - expected[p] / top) < 2e-3
        assert tint["background"].startswith("rgba(21, 101, 192"), tint
    best = max(scored, key=lambda p: expected[p])
    assert shown[best]["tint"] == 1.0
    legend = nb.page.locator("[data-testid=attribution-legend]")
    assert legend.is_visible() and "attends to each earlier token" in legend.inner_text()
    toggle.click()
    nb.wait("() => document.querySelectorAll('[data-testid=token].attributed').length === 0")
    assert not legend.is_visible()
