"""The widget's colours and design in a real JupyterLab, light and dark, on the shipped toy model.

The screenshots in docs/ (widget-light.png, widget-dark.png) are written by ``test_screenshots_light_and_dark``:
``python -m pytest tests/e2e/test_widget_design.py -k screenshots``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

SETUP = """
import torch
from vl_saliency_widget import SaliencyExtractor, SaliencyMap
from vl_saliency_widget.demo import load_toy_vlm, toy_samples
from vl_saliency_widget.widget import SaliencyWidget

model, processor = load_toy_vlm()
sample = toy_samples(1, 0)[0]
inputs = processor.apply_chat_template(
    sample.messages, tokenize=True, return_dict=True, return_tensors="pt", add_generation_prompt=True
)
with torch.no_grad():
    generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
trace = SaliencyExtractor(model, processor).capture(**inputs, generated_ids=generated, images=[sample.image])
answer = trace.gen_start
# The first text token after the image's tokens, and one before them: its row sees no image, so its map is zero.
before_image = next(p for p in trace.text_positions if p < int(trace.image_layouts[0].positions.min()))


def signed(attn, grad):
    \"\"\"Attention minus its mirror image (both signs, as strong), with the top row of cells exactly zero.\"\"\"
    values = attn.tensor() - attn.tensor().flip(-1)
    values[..., 0, :] = 0
    return SaliencyMap(values)


w = SaliencyWidget(trace, token=answer)
w
"""

SIGNED = """
s = SaliencyWidget(trace, methods={"signed": signed}, mode="signed", token=answer, opacity=1.0, smooth=False)
s
"""

# Per cell centre of the heatmap canvas: its colour.
CELL_COLOURS = """(canvas) => {
    const [h, w] = canvas.dataset.grid.split(",").map(Number);
    const ctx = canvas.getContext("2d");
    const out = [];
    for (let i = 0; i < h; i++) {
        const row = [];
        for (let j = 0; j < w; j++) {
            const x = Math.floor(((j + 0.5) * canvas.width) / w), y = Math.floor(((i + 0.5) * canvas.height) / h);
            row.push([...ctx.getImageData(x, y, 1, 1).data.slice(0, 3)]);
        }
        out.push(row);
    }
    return out;
}"""

# WCAG contrast of each element's text against the background it is drawn on (backgrounds composited from the page
# down, the element's colour and its opacity and its ancestors' composited over that).
CONTRAST = """(elements) => {
    const parse = (text) => {
        const m = text.match(/rgba?\\(([^)]+)\\)/);
        if (!m) return null;
        const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
        return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const over = (top, bottom, alpha) => bottom.map((v, i) => top[i] * alpha + v * (1 - alpha));
    const luminance = (rgb) => {
        const [r, g, b] = rgb.map((v) => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    return elements.map((el) => {
        const chain = [];
        for (let e = el; e; e = e.parentElement) chain.unshift(e);
        let background = [255, 255, 255];
        let opacity = 1;
        for (const e of chain) {
            const style = getComputedStyle(e);
            const colour = parse(style.backgroundColor);
            if (colour && colour[3] > 0) background = over(colour, background, colour[3]);
            opacity *= Number(style.opacity);
        }
        const text = parse(getComputedStyle(el).color);
        const shown = over(over(text, background, text[3]), background, opacity);
        const [a, b] = [luminance(shown), luminance(background)];
        return {
            what: (el.dataset.testid || el.className || el.tagName) + ": " + el.textContent.slice(0, 30),
            ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
        };
    });
}"""

# The elements whose text must read at WCAG AA: chips, enabled controls, labels, caption, legends, notes, tokens.
READABLE = """
    .vlsw-root .vlsw-image-chip, .vlsw-root button:not(:disabled), .vlsw-root select:not(:disabled),
    .vlsw-root .vlsw-control, .vlsw-root .vlsw-group-label, .vlsw-root .vlsw-caption, .vlsw-root .vlsw-grid-title,
    .vlsw-root .vlsw-note, .vlsw-root .vlsw-grid-legend span, .vlsw-root .vlsw-sign-legend span,
    .vlsw-root .vlsw-map-note, .vlsw-root .vlsw-token:not(.special), .vlsw-root .vlsw-label
"""


def root(nb: Any, index: int) -> Any:
    return nb.page.locator(".vlsw-root").nth(index)


def wait_idle(nb: Any, index: int, source: str = "selection", token: int | None = None) -> None:
    """Wait until widget ``index`` rests: no request in flight, ``source`` on the canvas (of ``token``, when given)
    and the grid drawn for the token on the canvas."""
    nb.page.mouse.move(2, nb.page.viewport_size["height"] - 2)
    nb.wait(
        """([index, source, token]) => {
            const root = document.querySelectorAll(".vlsw-root")[index];
            const canvas = root?.querySelector("[data-testid=heatmap]");
            const title = root?.querySelector("[data-testid=grid-title]")?.textContent ?? "";
            return root?.dataset.busy === "false" && canvas.dataset.source === source
                && canvas.dataset.grid !== undefined && (token === null || canvas.dataset.token === String(token))
                && title.endsWith(`(position ${canvas.dataset.token})`)
                && !root.querySelector("[data-testid=head-grid]").hidden;
        }""",
        [index, source, token],
    )


def set_theme(nb: Any, theme: str, light: bool) -> None:
    nb.page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', { theme })", theme)
    nb.wait(f"() => document.body.dataset.jpThemeLight === '{str(light).lower()}'")
    nb.page.wait_for_timeout(500)  # the theme's stylesheet settles


@pytest.fixture(scope="module")
def nb(browser: Any, lab: Any) -> Any:
    page = lab.open_notebook(browser, "design.ipynb", [SETUP, SIGNED])
    page.wait("() => document.querySelectorAll('.vlsw-root[data-busy=false]').length === 2")
    yield page
    set_theme(page, "JupyterLab Light", light=True)
    page.close()


def test_a_signed_map_is_drawn_diverging_around_zero(nb: Any) -> None:
    wait_idle(nb, 1)
    canvas = root(nb, 1).locator("[data-testid=heatmap]")
    assert canvas.get_attribute("data-scale") == "diverging"
    values = np.asarray(nb.value("s.map.numpy()[0, 0].tolist()"))
    colours = np.asarray(canvas.evaluate(CELL_COLOURS), dtype=float)
    m = float(np.abs(values).max())
    zero, positive, negative = values == 0, values > 0.3 * m, values < -0.3 * m
    assert zero.any() and positive.any() and negative.any()
    red, blue = colours[..., 0], colours[..., 2]
    spread = colours.max(-1) - colours.min(-1)
    assert (spread[zero] <= 3).all() and (colours[zero].min(-1) > 235).all(), "zero cells are not neutral white"
    assert (red[positive] > blue[positive] + 20).all(), "positive cells are not red"
    assert (blue[negative] > red[negative] + 20).all(), "negative cells are not blue"
    low, high = root(nb, 1).locator(".vlsw-heatmap").evaluate("e => [Number(e.dataset.min), Number(e.dataset.max)]")
    assert low == pytest.approx(-high) and high == pytest.approx(m, rel=1e-5)
    assert root(nb, 1).locator("[data-testid=sign-legend]").is_visible()
    # The gradient method is signed too: it is drawn the same way.
    root(nb, 0).locator("[data-testid=method]").select_option("grad")
    nb.wait("() => document.querySelector('[data-testid=heatmap]').dataset.mode === 'grad'")
    wait_idle(nb, 0)
    assert root(nb, 0).locator("[data-testid=heatmap]").get_attribute("data-scale") == "diverging"
    root(nb, 0).locator("[data-testid=method]").select_option("attn")
    nb.wait("() => document.querySelector('[data-testid=heatmap]').dataset.mode === 'attn'")
    wait_idle(nb, 0)


def test_a_zero_map_is_neutral_and_explained(nb: Any) -> None:
    before = nb.value("before_image")
    root(nb, 0).locator(f"[data-testid=token][data-index='{before}']").click()
    wait_idle(nb, 0)
    assert nb.value("float(abs(w.map.tensor()).max())") == 0.0
    canvas = root(nb, 0).locator("[data-testid=heatmap]")
    assert canvas.get_attribute("data-scale") == "flat"
    note = root(nb, 0).locator("[data-testid=map-note]")
    assert note.inner_text() == "this token comes before the image: its map is zero"
    assert root(nb, 0).locator("[data-testid=colorbar]").is_hidden()
    assert "0 everywhere" in root(nb, 0).locator("[data-testid=caption]").inner_text()
    nb.run("w.token = answer")
    wait_idle(nb, 0, token=nb.value("answer"))


def test_a_token_without_a_map_says_why_on_hover(nb: Any) -> None:
    token = root(nb, 0).locator("[data-testid=token]:not(.mappable)").first
    token.hover()
    caption = root(nb, 0).locator("[data-testid=caption]").inner_text()
    assert "has no map: " in caption and "no map" in str(token.get_attribute("title"))
    nb.page.mouse.move(2, nb.page.viewport_size["height"] - 2)


def bright_cells(nb: Any) -> float:
    """The share of painted head cells whose brightest pixel reaches the top of the colour scale."""
    return float(
        root(nb, 0)
        .locator("[data-testid=head-grid]")
        .evaluate(
            """(grid) => {
                const canvas = grid.querySelector(".vlsw-head-canvas");
                const ctx = canvas.getContext("2d");
                const cells = [...grid.querySelectorAll("[data-testid=head-cell]")];
                const bright = cells.filter((cell) => {
                    const data = ctx.getImageData(cell.offsetLeft, cell.offsetTop, cell.offsetWidth,
                        cell.offsetHeight).data;
                    let top = 0;
                    for (let i = 0; i < data.length; i += 4) top = Math.max(top, data[i] + data[i + 1] + data[i + 2]);
                    return top > 600;
                });
                return bright.length / cells.length;
            }"""
        )
    )


def test_the_grid_gives_each_head_its_scale_or_one_for_all_and_says_which(nb: Any) -> None:
    wait_idle(nb, 0)
    grid = root(nb, 0).locator("[data-testid=head-grid]")
    legend = root(nb, 0).locator("[data-testid=grid-legend]")
    assert grid.get_attribute("data-scale") == "head" and "each head on its own scale" in legend.inner_text()
    per_head = bright_cells(nb)
    root(nb, 0).locator("[data-testid=grid-scale] [data-value=shared]").click()
    nb.wait("() => document.querySelector('[data-testid=head-grid]').dataset.scale === 'shared'")
    assert nb.value("w.grid_scale") == "shared" and legend.inner_text().startswith("one scale for every head: ")
    shared = bright_cells(nb)
    assert per_head > 0.9 and shared < per_head, f"per head {per_head:.2f}, shared {shared:.2f} of cells reach the top"
    nb.run("w.grid_scale = 'head'")
    title = root(nb, 0).locator("[data-testid=grid-title]").inner_text()
    assert f"(position {nb.value('answer')})" in title
    # Selected heads show in the aggregation menu.
    grid.locator("[data-testid=head-cell][data-layer='0'][data-head='1']").click()
    wait_idle(nb, 0, source="heads")
    heads_menu = root(nb, 0).locator("[data-testid=head-reduce]")
    assert heads_menu.evaluate("s => s.selectedOptions[0].textContent") == "selected: L0H1"
    heads_menu.select_option("mean")
    wait_idle(nb, 0)
    assert nb.value("w.heads") == []


def test_save_png_carries_the_caption_and_the_colour_bar(nb: Any) -> None:
    wait_idle(nb, 0)
    canvas = root(nb, 0).locator("[data-testid=heatmap]").evaluate("c => [c.width, c.height]")
    with nb.page.expect_download() as download:
        root(nb, 0).locator("[data-testid=save-png]").click()
    assert download.value.suggested_filename == f"saliency-position-{nb.value('answer')}-attn.png"
    picture = np.asarray(Image.open(io.BytesIO(Path(download.value.path()).read_bytes())).convert("RGB"))
    assert picture.shape[1] == canvas[0] and picture.shape[0] > canvas[1] + 24 + 18
    under = picture[canvas[1] :]
    assert (under.sum(-1) < 200).any(), "no text under the map"
    assert (np.abs(under[..., 0].astype(int) - under[..., 2].astype(int)) > 100).any(), "no colour bar under the map"


def contrasts(nb: Any) -> list[dict[str, Any]]:
    return list(nb.page.eval_on_selector_all(READABLE, CONTRAST))


def test_text_reads_at_wcag_aa_in_light_and_dark(nb: Any) -> None:
    for theme, light in [("JupyterLab Light", True), ("JupyterLab Dark", False)]:
        set_theme(nb, theme, light)
        found = contrasts(nb)
        assert len(found) > 20
        poor = [f"{item['what']!r}: {item['ratio']:.2f}" for item in found if item["ratio"] < 4.5]
        assert not poor, f"{theme}: text below WCAG AA (4.5:1): {poor}"
        chips = root(nb, 0).locator(".vlsw-image-chip")
        assert chips.count() == 1
    set_theme(nb, "JupyterLab Light", light=True)


def test_screenshots_light_and_dark(nb: Any) -> None:
    """docs/widget-light.png and docs/widget-dark.png: the toy model's answer, its attention, the grid per head."""
    nb.run("w.mode = 'attn'; w.heads = []; w.grid_scale = 'head'; w.token = answer")
    wait_idle(nb, 0, token=nb.value("answer"))
    for theme, light, name in [("JupyterLab Light", True, "light"), ("JupyterLab Dark", False, "dark")]:
        set_theme(nb, theme, light)
        wait_idle(nb, 0)
        target = REPO / "docs" / f"widget-{name}.png"
        root(nb, 0).screenshot(path=str(target))
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    set_theme(nb, "JupyterLab Light", light=True)


def test_the_still_picture_hides_next_to_the_live_view(nb: Any) -> None:
    """Each display holds the still picture (for pages without a kernel), which JupyterLab does not show."""
    pictures = nb.page.locator(".vlsw-snapshot")
    assert pictures.count() == 2
    assert all(not pictures.nth(i).is_visible() for i in range(2))
    assert all(root(nb, i).is_visible() for i in range(2))
