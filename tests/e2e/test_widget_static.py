"""``w.to_html()`` in headless Chromium with the network blocked: the toy model's answer, every method of the menu, the
layers x heads grid, region drag and compare, all from the maps the page holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from test_widget_browser import READ_CANVAS, assert_shows

from vl_saliency_widget import SaliencyExtractor
from vl_saliency_widget.demo import load_toy_vlm, toy_samples
from vl_saliency_widget.lib import difference
from vl_saliency_widget.selectors import AbsoluteIndex
from vl_saliency_widget.widget import SaliencyWidget
from vl_saliency_widget.widget.static import heading

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def widget() -> SaliencyWidget:
    model, processor = load_toy_vlm()
    sample = toy_samples(1, 0)[0]
    inputs = processor.apply_chat_template(
        sample.messages, tokenize=True, return_dict=True, return_tensors="pt", add_generation_prompt=True
    )
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    trace = SaliencyExtractor(model, processor).capture(**inputs, generated_ids=generated, images=[sample.image])
    return SaliencyWidget(trace, token=trace.gen_start, colormap="gray", opacity=1.0, smooth=False)


@pytest.fixture(scope="module")
def page(widget: SaliencyWidget, browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = widget.to_html(tmp_path_factory.mktemp("static") / "page.html")
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    requests: list[str] = []
    # The network is blocked: anything but the file itself (and what it makes in memory) is refused.
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(("file:", "data:", "blob:")) else route.abort(),
    )
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(15_000)
    page.goto(Path(path).as_uri())
    page.wait_for_selector(".vlsw-root[data-busy=false] [data-testid=heatmap][data-grid]")
    yield page
    assert errors == [], errors
    assert all(url.startswith(("file:", "data:", "blob:")) for url in requests), requests
    context.close()


def canvas(page: Any) -> dict[str, Any]:
    return dict(page.eval_on_selector("[data-testid=heatmap]", READ_CANVAS))


def wait_for(page: Any, source: str, mode: str, token: int) -> None:
    """Wait until the page rests on ``token``'s map from ``source`` for ``mode``; on timeout, say what it shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        _wait_for(page, source, mode, token)
    except PlaywrightTimeout:
        shown = page.evaluate(
            """() => ({ heatmap: { ...document.querySelector("[data-testid=heatmap]").dataset },
                        caption: document.querySelector("[data-testid=caption]").textContent,
                        error: document.querySelector("[data-testid=error]").textContent,
                        grid: document.querySelector("[data-testid=grid-note]").textContent })"""
        )
        raise AssertionError(f"waiting for {source} of {token} by {mode}; the page shows {shown}") from None


def _wait_for(page: Any, source: str, mode: str, token: int) -> None:
    page.wait_for_function(
        """([source, mode, token]) => {
            const c = document.querySelector("[data-testid=heatmap]");
            return c.dataset.source === source && c.dataset.mode === mode && c.dataset.token === String(token)
                && document.querySelector(".vlsw-root").dataset.busy === "false";
        }""",
        arg=[source, mode, token],
    )


def test_the_page_opens_with_the_prompt_the_answer_and_the_answer_s_heads(widget: SaliencyWidget, page: Any) -> None:
    words = heading(widget.trace)
    assert words["answer"] and words["prompt"].endswith("assistant:")
    shown = page.inner_text("[data-testid=heading]").split("\n")
    assert shown == ["PROMPT", words["prompt"], "ANSWER", words["answer"]]
    layers, heads = widget.trace.map(AbsoluteIndex(widget.token)).shape[:2]
    assert page.locator("[data-testid=head-cell]").count() == layers * heads
    assert page.is_visible("[data-testid=head-grid]")


def test_every_method_of_the_menu_works_offline(widget: SaliencyWidget, page: Any) -> None:
    menu = page.locator("[data-testid=method]")
    assert menu.is_enabled()
    assert menu.locator("option").all_text_contents() == widget.methods
    answer = widget.token
    for name in widget.methods:
        menu.select_option(name)
        wait_for(page, "selection", name, answer)
        expected = widget.trace.map(AbsoluteIndex(answer), mode=widget._methods[name]).agg().numpy()[0, 0]
        assert_shows(canvas(page), expected)
        assert page.is_visible("[data-testid=head-grid]"), f"no layers x heads grid for {name}"
    # A gradient method's map has both signs: drawn centred on 0, with its legend.
    menu.select_option("grad")
    wait_for(page, "selection", "grad", answer)
    assert canvas(page)["scale"] == "diverging" and page.is_visible("[data-testid=sign-legend]")
    page.locator("[data-testid=head-cell][data-layer='1'][data-head='2']").click()
    wait_for(page, "heads", "grad", answer)
    assert_shows(canvas(page), widget.trace.map(AbsoluteIndex(answer), mode="grad").numpy()[1, 2])
    assert page.locator("[data-testid=head-reduce]").evaluate("s => s.selectedOptions[0].textContent") == (
        "selected: L1H2"
    )
    page.click("[data-testid=aggregate]")
    menu.select_option("attn")
    wait_for(page, "selection", "attn", answer)


def test_dragging_a_region_scores_the_tokens_from_the_page_s_maps(widget: SaliencyWidget, page: Any) -> None:
    box = page.locator("[data-testid=heatmap]").bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3, steps=4)
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=4)
    page.mouse.up()
    page.wait_for_selector("[data-testid=token].scored")
    width, height = widget.trace.image_layouts[0].size
    expected = widget.trace.tokens_for((0, 0, width / 2, height / 2)).numpy()
    shown = {
        int(t["position"]): t["region"]
        for t in page.eval_on_selector_all(
            "[data-testid=token]", "els => els.map((e) => ({ position: e.dataset.index, region: e.dataset.region }))"
        )
    }
    scored = [p for p in shown if not np.isnan(expected[p])]
    top = max(expected[p] for p in scored)
    assert scored and all(abs(float(shown[p]) - expected[p] / top) < 2e-3 for p in scored)
    assert all(shown[p] is None for p in shown if p not in scored)
    assert page.is_visible("[data-testid=region]") and page.is_visible("[data-testid=region-legend]")
    page.click("[data-testid=clear-region]")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=token].scored').length === 0")


def test_compare_subtracts_the_page_s_maps(widget: SaliencyWidget, page: Any) -> None:
    answer = widget.token
    other = next(p for p in reversed(widget.trace.text_positions) if p < answer - 2)
    page.click(f"[data-testid=token][data-index='{other}']", modifiers=["Shift"])
    page.mouse.move(2, 990)
    wait_for(page, "compare", "attn", answer)
    assert page.locator(f"[data-testid=token][data-index='{other}']").evaluate("e => e.classList.contains('compared')")
    trace = widget.trace
    expected = difference(trace.map(AbsoluteIndex(answer)).agg(), trace.map(AbsoluteIndex(other)).agg())
    assert_shows(canvas(page), expected.numpy()[0, 0])
    legend = page.inner_text("[data-testid=compare-legend]")
    assert "red:" in legend and "blue:" in legend
    page.click("[data-testid=compare]")
    wait_for(page, "selection", "attn", answer)
