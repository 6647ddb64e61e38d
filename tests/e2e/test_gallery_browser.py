"""SaliencyGallery in a real JupyterLab over a 10,000-sample run: it shows, sorts, filters, scrolls to the end, opens
a sample's full widget and comes back; an exported page sorts and filters offline.

The run is synthetic (``tests/gallery/synthetic.py``: 64 small trace files shared in turn, a maps file and a summary
row per sample, about 10 s to write), read with ``Run.load`` as any run. ``test_measurements`` measures first paint,
scroll frames and kernel bytes and records them (``pytest -s`` prints them; ``GALLERY_BENCH_OUT=file.json`` writes
them, which ``python -m bench.gallery`` does; ``GALLERY_RUN=folder`` reuses a run written before); it asserts no
timing.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

pytestmark = pytest.mark.e2e

SAMPLES = 10_000

SETUP = """
import time
from vl_saliency_widget.gallery import SaliencyGallery
from vl_saliency_widget.runs import Run

started = time.perf_counter()
run = Run.load({path!r})
g = SaliencyGallery(run)
built_s = time.perf_counter() - started
"""
DISPLAY = "g"
BUILD_AND_DISPLAY = """
started = time.perf_counter()
g = SaliencyGallery(run)
built_s = time.perf_counter() - started
g
"""


def ready(root: str = ".vlsg-root") -> str:
    """JS: whether the gallery ``root`` rests on its grid with every card in view drawn and no request in flight."""
    return f"""() => {{
        const root = document.querySelector("{root}");
        if (!root || root.dataset.busy !== 'false' || root.dataset.view !== 'grid') return false;
        const cards = [...root.querySelectorAll('[data-testid=gallery-card]')].filter((c) => !c.hidden);
        return cards.length > 0 && cards.every((c) => c.dataset.state === 'drawn' || c.dataset.state === 'failed');
    }}"""


READY = ready()


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic run; ``GALLERY_RUN`` names one already written (``python -m bench.gallery`` writes it once)."""
    from tests.gallery.synthetic import synthetic_run

    if os.environ.get("GALLERY_RUN"):
        return Path(os.environ["GALLERY_RUN"])
    return synthetic_run(tmp_path_factory.mktemp("gallery-e2e") / "run", SAMPLES)


@pytest.fixture(scope="module")
def nb(browser: Any, lab: Any, run_folder: Path) -> Any:
    page = lab.open_notebook(browser, "gallery.ipynb", [SETUP.format(path=str(run_folder)), DISPLAY])
    page.wait(READY)
    yield page
    page.close()


def shown_cards(nb: Any) -> list[dict[str, Any]]:
    """The cards in the page, in grid order: row index, position, state and text."""
    return list(
        nb.page.evaluate(
            """() => [...document.querySelectorAll('[data-testid=gallery-card]')].filter((c) => !c.hidden)
                .map((c) => ({ index: Number(c.dataset.index), position: Number(c.dataset.position),
                               state: c.dataset.state, answer: c.querySelector('.vlsg-answer').textContent,
                               value: c.querySelector('.vlsg-value').textContent }))
                .sort((a, b) => a.position - b.position)"""
        )
    )


def wait_for_kernel_order(nb: Any, kernel_holds: str = "True", count: int = 10, timeout: float = 60) -> None:
    """Wait until the kernel's gallery ``g`` satisfies ``kernel_holds`` (the view's trait changes reach it after a
    while: ipywidgets holds an update back while another is unanswered) and the first ``count`` cards in the page
    are its first rows (``g.rows``), drawn."""
    deadline = time.monotonic() + timeout
    while True:
        expected = nb.value(f"g.rows[:{count}].tolist() if ({kernel_holds}) else None")
        ready_now = expected is not None and nb.page.evaluate(f"() => ({READY})()")
        if ready_now and [c["index"] for c in shown_cards(nb)][:count] == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the cards did not show the kernel's order (where {kernel_holds}) in {timeout} s")
        time.sleep(0.2)


def test_ten_thousand_samples_show_as_a_grid_of_the_cards_in_view(nb: Any) -> None:
    cards = shown_cards(nb)
    assert nb.page.text_content("[data-testid=gallery-count]") == "10,000 samples"
    assert 6 <= len(cards) < 100, "the grid holds far more cards than it shows"
    assert [c["position"] for c in cards] == list(range(len(cards)))
    assert [c["index"] for c in cards] == nb.value(f"g.rows[:{len(cards)}].tolist()")
    rows = nb.value(f"[run.rows[i] for i in g.rows[:{len(cards)}]]")
    for card, row in zip(cards, rows, strict=True):
        assert card["answer"] == (row["answer"] if row["status"] == "ok" else f"failed: {row['error']}")
    assert nb.value("g.cards.reads") <= 2 * len(cards)  # a picture and a map per card in view, nothing more
    # a thumbnail is drawn: its canvas is not blank
    painted = nb.page.eval_on_selector(
        "[data-testid=gallery-card][data-state=drawn] canvas",
        """(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n / (d.length / 4); }""",
    )
    assert painted > 0.5


def test_sorting_shows_the_kernel_s_order_with_each_card_s_value(nb: Any) -> None:
    nb.page.select_option("[data-testid=gallery-sort]", "energy_attn")
    wait_for_kernel_order(nb, "g.sort_by == 'energy_attn'")
    cards = shown_cards(nb)
    expected = nb.value(f"g.rows[:{len(cards)}].tolist()")
    assert nb.value("g.sort_by") == "energy_attn"
    assert [c["index"] for c in cards] == expected
    values = [float(c["value"].split(": ")[1]) for c in cards]
    assert values == sorted(values)
    nb.page.click("[data-testid=gallery-direction]")
    wait_for_kernel_order(nb, "g.descending")
    cards = shown_cards(nb)
    assert [c["index"] for c in cards] == nb.value(f"g.rows[:{len(cards)}].tolist()")
    values = [float(c["value"].split(": ")[1]) for c in cards]
    assert values == sorted(values, reverse=True)


def test_filters_narrow_the_grid_and_count(nb: Any) -> None:
    nb.page.select_option("[data-testid=gallery-filter-column]", "question")
    nb.page.fill("[data-testid=gallery-filter-text]", "circle")
    wait_for_kernel_order(nb, "len(g.filters) == 1")
    kept = nb.value("len(g.rows)")
    assert kept == nb.value("sum('circle' in (r['question'] or '') for r in run.rows)")
    assert nb.page.text_content("[data-testid=gallery-count]") == f"{kept:,} of 10,000 samples"
    assert nb.page.text_content("[data-testid=gallery-filter-chip]").startswith("question contains “circle”")
    # a range on a number column as well: both hold
    nb.page.select_option("[data-testid=gallery-filter-column]", "reliance")
    nb.page.fill("[data-testid=gallery-filter-min]", "1.5")
    wait_for_kernel_order(nb, "len(g.filters) == 2")
    both = nb.value("[r['id'] for r in run.rows if 'circle' in (r['question'] or '') and r['reliance'] >= 1.5]")
    assert sorted(nb.value("g.ids")) == sorted(both)
    cards = shown_cards(nb)
    assert [c["index"] for c in cards] == nb.value(f"g.rows[:{len(cards)}].tolist()")
    nb.run("g.filters = []; g.sort_by = ''; g.descending = False")
    wait_for_kernel_order(nb)
    assert nb.page.text_content("[data-testid=gallery-count]") == "10,000 samples"
    assert nb.page.locator("[data-testid=gallery-filter-chip]").count() == 0


def scroll_to(nb: Any, where: str, position: int) -> None:
    """Scroll the grid (``where``: JS of the viewport ``v``) and wait until the card at ``position`` is drawn."""
    nb.page.eval_on_selector("[data-testid=gallery-grid]", f"(v) => {{ v.scrollTop = {where}; }}")
    nb.wait(f"() => document.querySelector('[data-testid=gallery-card][data-position=\"{position}\"]:not([hidden])')")
    nb.wait(READY)


def test_scrolling_to_the_end_brings_the_last_sample_in(nb: Any) -> None:
    scroll_to(nb, "v.scrollHeight", SAMPLES - 1)
    cards = shown_cards(nb)
    assert cards[-1]["index"] == SAMPLES - 1 and cards[-1]["position"] == SAMPLES - 1
    assert len(cards) < 100
    scroll_to(nb, "0", 0)


def test_a_click_opens_the_sample_s_widget_in_place_and_back_returns(nb: Any, tmp_path: Path) -> None:
    nb.wait(READY)
    card = shown_cards(nb)[3]
    nb.page.click(f"[data-testid=gallery-card][data-position='{card['position']}']")
    nb.wait("() => document.querySelector('[data-testid=gallery-detail] .vlsw-root') !== null")
    nb.wait("() => document.querySelector('[data-testid=gallery-detail] .vlsw-root').dataset.busy === 'false'")
    assert nb.value("g.opened") == card["index"]
    assert nb.value("type(g.widget).__name__") == "SaliencyWidget"
    assert nb.value("g.widget.trace.token_strings") == nb.value(
        f"run.trace(run.rows[{card['index']}]['id']).token_strings"
    )
    assert nb.page.is_hidden("[data-testid=gallery-grid]")
    title = nb.page.text_content(".vlsg-detail-title")
    assert title.startswith(nb.value(f"run.rows[{card['index']}]['id']"))
    nb.page.screenshot(path=str(tmp_path / "gallery-open.png"))
    print(f"\nthe open sample: {tmp_path / 'gallery-open.png'}")
    nb.page.click("[data-testid=gallery-back]")
    nb.wait(READY)
    assert nb.value("g.opened") == -1 and nb.value("g.widget is None")
    assert nb.page.locator("[data-testid=gallery-detail] .vlsw-root").count() == 0
    assert shown_cards(nb)[3]["index"] == card["index"]


def test_screenshot_for_the_readme(nb: Any) -> None:
    nb.run("g.filters = []; g.sort_by = 'energy_attn'; g.descending = False; g.method = 'attn'; g.token = 'first'")
    wait_for_kernel_order(nb)
    nb.page.select_option("[data-testid=gallery-filter-column]", "question")
    nb.page.mouse.move(2, nb.page.viewport_size["height"] - 2)
    nb.page.evaluate("() => document.activeElement?.blur()")
    target = REPO / "docs" / "gallery.png"
    nb.page.locator(".vlsg-root").screenshot(path=str(target))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    nb.run("g.sort_by = ''")
    wait_for_kernel_order(nb)


def test_an_exported_page_sorts_and_filters_offline(nb: Any, browser: Any, lab: Any) -> None:
    path = lab.root / "gallery-page.html"
    nb.run(f"g.to_html({str(path)!r}, page=2, page_size=60)")
    expected = nb.value("g.rows[120:180].tolist()")
    context = browser.new_context(offline=True, viewport={"width": 1300, "height": 1000})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    try:
        page.goto(path.as_uri())
        page.wait_for_function(READY)
        cards = page.evaluate(
            "() => [...document.querySelectorAll('[data-testid=gallery-card]')].filter((c) => !c.hidden)"
            ".map((c) => Number(c.dataset.index))"
        )
        assert cards == expected[: len(cards)]
        assert "Page 3 of 167" in page.text_content("[data-testid=gallery-heading]")
        page.select_option("[data-testid=gallery-sort]", "reliance")
        page.wait_for_function(READY)
        reliance = nb.value("{i: run.rows[i]['reliance'] for i in g.rows[120:180].tolist()}")
        first = page.evaluate("() => Number(document.querySelector('[data-testid=gallery-card]').dataset.index)")
        assert first == min(expected, key=lambda i: (reliance[str(i)], expected.index(i)))
        page.select_option("[data-testid=gallery-filter-column]", "answer")
        page.fill("[data-testid=gallery-filter-text]", "green")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=gallery-count]').textContent.includes(' of ')"
        )
        page.wait_for_function(READY)
        answers = page.evaluate(
            "() => [...document.querySelectorAll('[data-testid=gallery-card] .vlsg-answer')]"
            ".filter((a) => !a.closest('[data-testid=gallery-card]').hidden).map((a) => a.textContent)"
        )
        assert answers and set(answers) == {"green"}
    finally:
        context.close()
    assert all(url.startswith("file:") for url in requests), requests


def test_measurements(browser: Any, lab: Any, run_folder: Path, record_property: Any) -> None:
    """First paint, scroll frames and kernel bytes with 10,000 samples (recorded, never asserted)."""
    nb = lab.open_notebook(browser, "gallery-bench.ipynb", [SETUP.format(path=str(run_folder)), BUILD_AND_DISPLAY])
    try:
        nb.wait(READY)
        nb.page.evaluate(
            """() => {
                document.querySelector('.vlsg-root').dataset.old = 'yes';
                window.__longtasks = [];
                new PerformanceObserver((list) => window.__longtasks.push(...list.getEntries().map(
                    (e) => e.duration))).observe({ type: 'longtask' });
            }"""
        )
        received = len(nb.received)
        nb.page.evaluate(
            """async () => {
                window.__t0 = performance.now();
                new MutationObserver((_, observer) => {
                    const root = document.querySelector('.vlsg-root:not([data-old])');
                    if (!root) return;
                    window.__tRoot = performance.now();
                    observer.disconnect();
                }).observe(document.body, { childList: true, subtree: true });
                const panel = window.jupyterapp.shell.currentWidget;
                panel.content.activeCellIndex = 1;
                await window.jupyterapp.commands.execute('notebook:run-cell');
            }"""
        )
        fresh = ready(".vlsg-root:not([data-old])")
        nb.wait(f"() => ({fresh})() && (window.__tReady ??= performance.now()) > 0")
        paint = nb.page.evaluate(
            "() => ({ toRoot: window.__tRoot - window.__t0, toReady: window.__tReady - window.__t0 })"
        )
        display_bytes = sum(nb.received[received:])
        cards_in_view = len(shown_cards(nb))
        built_s = nb.value("built_s")

        # One more screen of cards: scroll by the grid's height and wait until they are drawn.
        received = len(nb.received)
        nb.page.eval_on_selector(
            "[data-testid=gallery-grid]",
            """async (v) => {
                v.scrollTop += v.clientHeight;
                await new Promise(requestAnimationFrame); // the scroll event has run: the request is out
                await new Promise(requestAnimationFrame);
            }""",
        )
        nb.wait(READY)
        page_bytes = sum(nb.received[received:])
        page_frames = len(nb.received) - received

        # Scroll frames: rAF intervals, and the main thread's work per frame (scroll event to the frame painted).
        scroll = nb.page.evaluate(
            """async (step) => {
                const viewport = document.querySelector('[data-testid=gallery-grid]');
                viewport.scrollTop = 0;
                await new Promise(requestAnimationFrame);
                let scrolled = 0;
                const onScroll = () => { scrolled = performance.now(); };
                document.addEventListener('scroll', onScroll, { capture: true });
                const channel = new MessageChannel();
                const painted = () => new Promise((resolve) => {
                    channel.port1.onmessage = () => resolve(performance.now());
                    channel.port2.postMessage(0);
                });
                window.__longtasks.splice(0);
                const frames = [], work = [];
                let most = 0;
                let last = performance.now();
                for (let i = 0; i < 150; i++) {
                    viewport.scrollTop += step;
                    const start = await new Promise(requestAnimationFrame);
                    frames.push(start - last);
                    last = start;
                    const end = await painted();
                    work.push(end - (scrolled || start));
                    scrolled = 0;
                    most = Math.max(most, [...document.querySelectorAll('[data-testid=gallery-card]')]
                        .filter((c) => !c.hidden).length);
                }
                document.removeEventListener('scroll', onScroll, { capture: true });
                return { frames, work, most, longtasks: window.__longtasks.splice(0) };
            }""",
            111,
        )
        nb.wait(READY)
    finally:
        nb.close()
    report = {
        "samples": SAMPLES,
        "kernel_build_s": round(built_s, 3),
        "cell_to_view_ms": round(paint["toRoot"], 1),
        "cell_to_first_paint_ms": round(paint["toReady"], 1),
        "view_to_first_paint_ms": round(paint["toReady"] - paint["toRoot"], 1),
        "cards_in_view": cards_in_view,
        "kernel_bytes_to_build_and_display": display_bytes,
        "kernel_bytes_per_screen_of_cards": page_bytes,
        "kernel_frames_per_screen_of_cards": page_frames,
        "scroll_frame_interval_median_ms": round(statistics.median(scroll["frames"]), 2),
        "scroll_frame_work_median_ms": round(statistics.median(scroll["work"]), 2),
        "scroll_frame_work_p95_ms": round(sorted(scroll["work"])[int(0.95 * len(scroll["work"]))], 2),
        "scroll_frame_work_max_ms": round(max(scroll["work"]), 2),
        "scroll_longtasks_ms": [round(t) for t in scroll["longtasks"]],
        "scroll_most_cards_in_dom": scroll["most"],
    }
    for key, value in report.items():
        record_property(key, value)
    print("\ngallery, 10,000 samples:", json.dumps(report, indent=1))
    if os.environ.get("GALLERY_BENCH_OUT"):
        Path(os.environ["GALLERY_BENCH_OUT"]).write_text(json.dumps(report, indent=1) + "\n")
    assert len(scroll["work"]) == 150 and scroll["most"] < 100
