"""The widget in a real JupyterLab: what the canvas shows is the map Python computed."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

SETUP = """
from vl_saliency_widget import SaliencyExtractor
from vl_saliency_widget.selectors import AbsoluteIndex
from vl_saliency_widget.testing import tiny_image, tiny_vlm
from vl_saliency_widget.widget import SaliencyWidget

model, processor = tiny_vlm("qwen2_vl")
image = tiny_image(size=(168, 112))
question = {"type": "text", "text": "Where is the red square?"}
messages = [{"role": "user", "content": [{"type": "image", "image": image}, question]}]
inputs = processor.apply_chat_template(
    messages, tokenize=True, return_dict=True, return_tensors="pt", add_generation_prompt=True
)
generated = model.generate(**inputs, max_new_tokens=8, do_sample=False)
trace = SaliencyExtractor(model, processor).capture(**inputs, generated_ids=generated, images=[image])
# Gray, opaque and blocky: each cell's grey level on the canvas reads back its value.
w = SaliencyWidget(trace, colormap="gray", opacity=1.0, smooth=False)


def aggregated(position):
    \"\"\"The map of a token straight from the trace, aggregated as the widget's controls say.\"\"\"
    smap = trace.map(AbsoluteIndex(position), mode=w.mode)
    return smap.agg(w.layer_reduce, w.head_reduce).numpy()[0, 0].tolist()


w
"""

# A trivial widget whose view sends a message and waits for the kernel's echo: the floor of any round trip.
ECHO = """
import anywidget

class Echo(anywidget.AnyWidget):
    _esm = '''
    export default { render({ model, el }) {
      el.dataset.testid = "echo";
      model.on("msg:custom", (msg) => { el.dataset.reply = String(msg.id); });
      el.addEventListener("echo", (event) => model.send({ id: event.detail }));
    } };
    '''

    def __init__(self) -> None:
        super().__init__()
        self.on_msg(lambda widget, content, buffers: widget.send({"id": content["id"]}))

echo = Echo()
echo
"""

# A second widget, over a prompt with two pictures of different shapes.
TWO_IMAGES = """
wide, tall = tiny_image(seed=1, size=(168, 112)), tiny_image(seed=2, size=(112, 168))
content = [{"type": "image", "image": wide}, {"type": "image", "image": tall}, {"type": "text", "text": "Same?"}]
inputs2 = processor.apply_chat_template(
    [{"role": "user", "content": content}],
    tokenize=True,
    return_dict=True,
    return_tensors="pt",
    add_generation_prompt=True,
)
generated2 = model.generate(**inputs2, max_new_tokens=4, do_sample=False)
trace2 = SaliencyExtractor(model, processor).capture(**inputs2, generated_ids=generated2, images=[wide, tall])
w2 = SaliencyWidget(trace2, colormap="gray", opacity=1.0, smooth=False)
w2
"""

IDLE = """() => document.querySelector(".vlsw-root")?.dataset.busy === "false"
    && document.querySelector("[data-testid=heatmap]")?.dataset.grid !== undefined"""

# Grey level (red channel) and colour at the centre of every map cell on the heatmap canvas, and a checksum of all
# pixels.
READ_CANVAS = """(canvas) => {
    const [h, w] = canvas.dataset.grid.split(",").map(Number);
    const { width, height } = canvas;
    const ctx = canvas.getContext("2d");
    const levels = [];
    const colours = [];
    for (let i = 0; i < h; i++) {
        const row = [];
        const rgb = [];
        for (let j = 0; j < w; j++) {
            const px = Math.floor(((j + 0.5) * width) / w);
            const py = Math.floor(((i + 0.5) * height) / h);
            const pixel = ctx.getImageData(px, py, 1, 1).data;
            row.push(pixel[0]);
            rgb.push([pixel[0], pixel[1], pixel[2]]);
        }
        levels.push(row);
        colours.push(rgb);
    }
    const all = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let checksum = 0;
    for (let i = 0; i < all.length; i += 4) {
        checksum = (checksum * 31 + all[i] + 7 * all[i + 1] + 13 * all[i + 2]) % 1000000007;
    }
    return {
        levels, colours, checksum, token: Number(canvas.dataset.token), source: canvas.dataset.source,
        scale: canvas.dataset.scale,
    };
}"""


def read_canvas(page: Any) -> dict[str, Any]:
    return dict(page.eval_on_selector("[data-testid=heatmap]", READ_CANVAS))


def assert_shows(canvas: dict[str, Any], values: np.ndarray) -> None:
    """The canvas cells are ``values`` on a grey scale from their min to max, the hottest cells agreeing; or, for a
    map with negative values (beyond float noise, as js/colormap.ts's isSigned says), on the diverging scale centred
    on 0 (matplotlib's RdBu_r, which js/colormap.ts samples)."""
    levels = np.asarray(canvas["levels"], dtype=float)
    assert levels.shape == values.shape, f"canvas grid {levels.shape}, Python map {values.shape}"
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 and -lo > 1e-6 * max(abs(hi), -lo):
        from matplotlib import colormaps

        assert canvas["scale"] == "diverging", f"a map with negative values drawn on a {canvas['scale']} scale"
        m = max(-lo, abs(hi))
        expected_rgb = colormaps["RdBu_r"]((values / m + 1) / 2)[..., :3] * 255
        assert np.abs(np.asarray(canvas["colours"], dtype=float) - expected_rgb).max() <= 8
        return
    expected = np.rint((values - lo) / (hi - lo) * 255) if hi > lo else np.zeros_like(values)
    hottest = np.unravel_index(int(values.argmax()), values.shape)
    assert levels[hottest] == levels.max() == 255, (
        f"the hottest cell Python computed, {hottest}, is not the hottest on the canvas "
        f"(canvas hottest {np.unravel_index(int(levels.argmax()), levels.shape)})"
    )
    assert np.abs(levels - expected).max() <= 1, f"canvas levels\n{levels}\ndiffer from the map\n{expected}"


def python_map(nb: Any) -> np.ndarray:
    """The map on screen as Python has it: ``w.map`` [1, 1, h, w] -> [h, w]."""
    return np.asarray(nb.value("w.map.numpy()[0, 0].tolist()"))


def wait_idle(nb: Any, token: int | None = None, source: str = "selection") -> None:
    """Wait for the view to rest on ``token`` with no request in flight, the pointer parked off the strip."""
    park_pointer(nb.page)
    condition = f"""() => ({IDLE[6:]})
        && document.querySelector("[data-testid=heatmap]").dataset.source === "{source}"
        {"" if token is None else f'&& document.querySelector("[data-testid=heatmap]").dataset.token === "{token}"'}"""
    nb.wait(condition)


def park_pointer(page: Any) -> None:
    """Move the pointer off the token strip (a token under a resting pointer is a hover preview)."""
    page.mouse.move(2, page.viewport_size["height"] - 2)


def generated_tokens(nb: Any) -> list[int]:
    """Positions of the first widget's generated tokens (page-wide selectors below also find it first)."""
    tokens = nb.page.locator(".vlsw-root").first.locator("[data-testid=token].generated.mappable")
    return [int(i) for i in tokens.evaluate_all("els => els.map((e) => e.dataset.index)")]


@pytest.fixture(scope="module")
def nb(browser: Any, lab: Any) -> Any:
    page = lab.open_notebook(browser, "widget.ipynb", [SETUP, ECHO, TWO_IMAGES])
    page.wait(IDLE)
    page.page.wait_for_selector("[data-testid=echo]", state="attached")
    page.wait("() => document.querySelectorAll('.vlsw-root[data-busy=false]').length === 2")
    yield page
    page.close()


def test_click_shows_the_map_python_computed(nb: Any) -> None:
    tokens = generated_tokens(nb)
    before = read_canvas(nb.page)
    target = next(t for t in tokens if t != before["token"])
    nb.page.click(f"[data-testid=token][data-index='{target}']")
    wait_idle(nb, target)
    after = read_canvas(nb.page)
    assert nb.value("w.token") == target, "the click did not reach w.token"
    assert after["checksum"] != before["checksum"], "the heatmap canvas did not change"
    assert_shows(after, python_map(nb))


def test_python_token_change_moves_the_view(nb: Any) -> None:
    target = generated_tokens(nb)[-1]
    nb.run(f"w.token = {target}")
    wait_idle(nb, target)
    assert nb.page.get_attribute(f"[data-testid=token][data-index='{target}']", "aria-selected") == "true"
    assert_shows(read_canvas(nb.page), python_map(nb))


def test_arrow_keys_step_through_the_tokens(nb: Any) -> None:
    tokens = generated_tokens(nb)
    nb.run(f"w.token = {tokens[1]}")
    wait_idle(nb, tokens[1])
    nb.page.focus(".vlsw-strip")
    nb.page.keyboard.press("ArrowRight")
    wait_idle(nb, tokens[2])
    nb.page.keyboard.press("ArrowLeft")
    nb.page.keyboard.press("ArrowLeft")
    wait_idle(nb, tokens[0])
    assert nb.value("w.token") == tokens[0]
    assert_shows(read_canvas(nb.page), python_map(nb))


def test_hover_previews_without_the_kernel(nb: Any) -> None:
    selected, hovered = generated_tokens(nb)[-1], generated_tokens(nb)[1]
    nb.run(f"w.token = {selected}")
    wait_idle(nb, selected)
    # The preview is drawn in the same task as the mouse event: no kernel round trip is involved.
    shown = nb.page.evaluate(
        """(index) => {
            document.querySelector(`[data-testid=token][data-index="${index}"]`)
                .dispatchEvent(new MouseEvent("mouseenter"));
            const canvas = document.querySelector("[data-testid=heatmap]");
            return [canvas.dataset.token, canvas.dataset.source];
        }""",
        hovered,
    )
    assert shown == [str(hovered), "hover"]
    preview = np.asarray(nb.value(f"aggregated({hovered})"))
    assert_shows(read_canvas(nb.page), preview)
    nb.page.dispatch_event(".vlsw-strip", "mouseleave")
    wait_idle(nb, selected)
    assert_shows(read_canvas(nb.page), python_map(nb))


def test_method_switch_recomputes(nb: Any) -> None:
    wait_idle(nb)
    before = read_canvas(nb.page)
    nb.page.select_option("[data-testid=method]", "grad")
    nb.wait(
        f"""() => ({IDLE[6:]}) && document.querySelector("[data-testid=heatmap]").dataset.mode === "grad"
            && document.querySelector("[data-testid=heatmap]").dataset.source === "selection" """
    )
    assert nb.value("w.mode") == "grad"
    after = read_canvas(nb.page)
    assert after["checksum"] != before["checksum"]
    assert_shows(after, python_map(nb))

    # Gradients are computed per token when first needed: the others are marked pending until "compute all".
    assert nb.page.locator(".vlsw-token.pending").count() > 0
    nb.page.click("[data-testid=compute-all]")
    nb.wait(f"() => ({IDLE[6:]}) && document.querySelectorAll('.vlsw-token.pending').length === 0")
    assert nb.page.is_hidden("[data-testid=compute-all]")
    hovered = next(t for t in generated_tokens(nb) if t != after["token"])
    nb.page.hover(f"[data-testid=token][data-index='{hovered}']")
    assert read_canvas(nb.page)["source"] == "hover"
    assert_shows(read_canvas(nb.page), np.asarray(nb.value(f"aggregated({hovered})")))
    nb.page.select_option("[data-testid=method]", "attn")
    nb.wait(f"""() => ({IDLE[6:]}) && document.querySelector("[data-testid=heatmap]").dataset.mode === "attn" """)


def test_python_pipeline_change_rerenders(nb: Any) -> None:
    wait_idle(nb)
    before = read_canvas(nb.page)
    old_range = nb.page.eval_on_selector(".vlsw-heatmap", "e => [e.dataset.min, e.dataset.max]")
    nb.run("w.pipeline = lambda m: m * -1")  # negative values: the colour bar is centred on 0
    nb.wait(
        f"""(old) => ({IDLE[6:]}) && document.querySelector("[data-testid=heatmap]").dataset.source === "selection"
            && document.querySelector(".vlsw-heatmap").dataset.min !== old[0]""",
        old_range,
    )
    after = read_canvas(nb.page)
    assert after["checksum"] != before["checksum"], "w.pipeline = ... did not change the heatmap"
    assert_shows(after, python_map(nb))
    nb.run("w.pipeline = None")


def test_raising_pipeline_shows_its_error_and_the_widget_recovers(nb: Any) -> None:
    nb.run("def broken(m):\n    raise ValueError('pipeline exploded on purpose')\nw.pipeline = broken")
    nb.page.wait_for_selector("[data-testid=error]:has-text('pipeline exploded on purpose')")
    nb.run("w.pipeline = None")
    nb.page.wait_for_selector("[data-testid=error]", state="hidden")
    target = generated_tokens(nb)[2]
    nb.page.click(f"[data-testid=token][data-index='{target}']")
    wait_idle(nb, target)
    assert_shows(read_canvas(nb.page), python_map(nb))


def test_head_grid_click_shift_click_and_back(nb: Any) -> None:
    wait_idle(nb)
    grid = nb.page.locator("[data-testid=head-grid]").first
    layers, heads = nb.value("list(trace.map(AbsoluteIndex(w.token)).shape[:2])")
    assert grid.locator("[data-testid=head-cell]").count() == layers * heads
    grid.locator("[data-testid=head-cell][data-layer='1'][data-head='2']").click()
    wait_idle(nb, source="heads")
    assert nb.value("w.heads") == [[1, 2]]
    assert_shows(read_canvas(nb.page), python_map(nb))
    grid.locator("[data-testid=head-cell][data-layer='0'][data-head='0']").click(modifiers=["Shift"])
    nb.wait("() => document.querySelector('[data-testid=caption]').textContent.includes('L0H0')")
    assert nb.value("w.heads") == [[1, 2], [0, 0]]
    assert_shows(read_canvas(nb.page), python_map(nb))
    nb.page.click("[data-testid=aggregate]")
    wait_idle(nb)
    assert nb.value("w.heads") == []
    assert_shows(read_canvas(nb.page), python_map(nb))


def test_one_tab_per_image_switches_picture_and_maps(nb: Any) -> None:
    second = nb.page.locator(".vlsw-root").nth(1)
    tabs = second.locator("[data-testid=image-tab]")
    assert tabs.count() == 2 and tabs.nth(0).is_visible()
    assert second.locator("[data-testid=image-chip]").count() == 2
    canvas = second.locator("[data-testid=heatmap]")
    before = canvas.evaluate("c => [c.width, c.height]")
    tabs.nth(1).click()
    nb.wait(
        """() => {
            const root = document.querySelectorAll(".vlsw-root")[1];
            return root.dataset.busy === "false" && root.querySelector(".vlsw-tab.selected")?.dataset.image === "1";
        }"""
    )
    assert nb.value("w2.image_index") == 1
    after = canvas.evaluate("c => [c.width, c.height]")
    assert before[0] > before[1] and after[0] < after[1], f"the tall picture did not replace the wide one: {after}"
    assert_shows(canvas.evaluate(READ_CANVAS), np.asarray(nb.value("w2.map.numpy()[0, 0].tolist()")))


def test_save_png_downloads_the_view(nb: Any) -> None:
    with nb.page.expect_download() as download:
        nb.page.click("[data-testid=save-png]")
    path = download.value.path()
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_click_to_render_latency_beside_an_echo_widget(nb: Any, record_property: Any) -> None:
    """Benchmark, not a timed assertion: click -> kernel -> canvas, beside the bare echo round trip."""
    tokens = generated_tokens(nb)
    rounds = 12
    saliency_ms = nb.page.evaluate(
        """async ([tokens, rounds]) => {
            const root = document.querySelector(".vlsw-root");
            const times = [];
            for (let i = 0; i < rounds; i++) {
                const token = document.querySelector(`[data-testid=token][data-index="${tokens[i % tokens.length]}"]`);
                const done = new Promise((resolve) => {
                    const observer = new MutationObserver(() => {
                        if (root.dataset.busy === "false") { observer.disconnect(); resolve(); }
                    });
                    observer.observe(root, { attributes: true, attributeFilter: ["data-busy"] });
                });
                const start = performance.now();
                token.click();
                await done;
                times.push(performance.now() - start);
            }
            return times;
        }""",
        [tokens, rounds],
    )
    echo_ms = nb.page.evaluate(
        """async (rounds) => {
            const el = document.querySelector("[data-testid=echo]");
            const times = [];
            for (let i = 1; i <= rounds; i++) {
                const done = new Promise((resolve) => {
                    const observer = new MutationObserver(() => {
                        if (el.dataset.reply === String(i)) { observer.disconnect(); resolve(); }
                    });
                    observer.observe(el, { attributes: true, attributeFilter: ["data-reply"] });
                });
                const start = performance.now();
                el.dispatchEvent(new CustomEvent("echo", { detail: i }));
                await done;
                times.push(performance.now() - start);
            }
            return times;
        }""",
        rounds,
    )
    saliency, echo = statistics.median(saliency_ms), statistics.median(echo_ms)
    record_property("click_to_render_median_ms", saliency)
    record_property("echo_round_trip_median_ms", echo)
    print(
        f"\nclick-to-render median {saliency:.1f} ms (min {min(saliency_ms):.1f}) over {rounds} clicks; "
        f"echo widget round trip median {echo:.1f} ms (min {min(echo_ms):.1f})"
    )
    assert len(saliency_ms) == len(echo_ms) == rounds


def test_screenshot_for_the_readme(nb: Any) -> None:
    # The same view whatever ran before: method, selection, look and the strip's scroll position are all set.
    target = generated_tokens(nb)[2]
    nb.run(f"w.mode = 'attn'; w.pipeline = None; w.heads = []; w.token = {target}")
    nb.run("w.colormap = 'inferno'; w.opacity = 0.6; w.smooth = True")
    nb.wait("() => document.querySelector('[data-testid=colormap]').value === 'inferno'")
    wait_idle(nb, target)
    nb.page.eval_on_selector(".vlsw-strip", "strip => { strip.scrollTop = strip.scrollHeight; }")
    target = REPO / "docs" / "widget.png"
    target.parent.mkdir(exist_ok=True)
    nb.page.locator(".vlsw-root").first.screenshot(path=str(target))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    nb.run("w.colormap = 'gray'; w.opacity = 1.0; w.smooth = False")


def test_exported_html_works_offline_from_file_url(nb: Any, browser: Any, lab: Any) -> None:
    path = lab.root / "export.html"
    nb.run(f"w.to_html({str(path)!r})")
    context = browser.new_context(offline=True)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector("[data-testid=heatmap][data-grid]")
    tokens = [
        int(i)
        for i in page.eval_on_selector_all(
            "[data-testid=token].generated.mappable", "els => els.map((e) => e.dataset.index)"
        )
    ]
    before = read_canvas(page)
    target = next(t for t in tokens if t != before["token"])
    page.click(f"[data-testid=token][data-index='{target}']")
    page.wait_for_function(f"() => document.querySelector('[data-testid=heatmap]').dataset.token === '{target}'")
    after = read_canvas(page)
    assert after["checksum"] != before["checksum"]
    assert_shows(after, np.asarray(nb.value(f"aggregated({target})")))
    hovered = tokens[0]
    page.hover(f"[data-testid=token][data-index='{hovered}']")
    assert_shows(read_canvas(page), np.asarray(nb.value(f"aggregated({hovered})")))
    assert all(url.startswith(("file:", "data:", "blob:")) for url in requests), requests
    context.close()
