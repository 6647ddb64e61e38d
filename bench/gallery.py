"""``python -m bench.gallery [--repeats 3] [--samples 10000] [--out bench/]``: the gallery with 10,000 samples.

Writes ``gallery_results.json`` and ``gallery_results.md`` into ``--out``. Two parts:

- **In the kernel** (no browser): writing the synthetic run (``tests/gallery/synthetic.py``), ``Run.load``, building
  ``SaliencyGallery`` (the summary's index), ordering by a number column, a text column and a filter, and the
  answer to the view's request for a screen of cards: its bytes (text, float32 maps, PNG pictures) and time, first
  read from the files, then from the caches; and the bytes of an exported page of 120 samples. Times are medians of
  ``--repeats`` runs.
- **In the browser**: ``tests/e2e/test_gallery_browser.py::test_measurements`` (a real JupyterLab, headless
  Chromium), run ``--repeats`` times on the same run: first paint (from the cell that builds and displays the
  gallery, and from the view's mount), the kernel bytes for building and displaying it and for each further screen
  of cards, and 150 scroll frames of 111 pixels (half a row): the interval between frames and the main thread's work
  per frame (from the scroll event to the frame painted). Each number is the median over the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _median_time(action: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def kernel_side(folder: Path, samples: int, repeats: int, screen: int) -> dict[str, Any]:
    """What the kernel does for the gallery, measured without a browser."""
    from tests.gallery.synthetic import synthetic_run
    from vl_saliency_widget.gallery import SaliencyGallery
    from vl_saliency_widget.gallery.index import TextFilter
    from vl_saliency_widget.gallery.protocol import Items, items_message
    from vl_saliency_widget.runs import Run

    started = time.perf_counter()
    synthetic_run(folder, samples)
    write_s = time.perf_counter() - started
    load_s = _median_time(lambda: Run.load(folder), repeats)
    run = Run.load(folder)
    build_s = _median_time(lambda: SaliencyGallery(run), repeats)
    gallery = SaliencyGallery(run)
    index = gallery.index
    sort_number_s = _median_time(lambda: index.order("energy_attn", True, [], "mean"), repeats)
    sort_text_s = _median_time(lambda: index.order("question"), repeats)
    filter_s = _median_time(lambda: index.order("reliance", False, [TextFilter("question", "circle")]), repeats)

    def answer(rows: list[int], pictures: bool) -> tuple[int, float]:
        request = Items(1, tuple(rows), frozenset(rows if pictures else ()))
        started = time.perf_counter()
        content, buffers = items_message(request, gallery.cards, gallery.method, gallery.token)
        seconds = time.perf_counter() - started
        return len(json.dumps(content)) + sum(len(b) for b in buffers), seconds

    cold_bytes, cold_s = [], []
    for k in range(repeats):  # a screen never asked for: read from the files
        rows = list(range(1000 + k * screen, 1000 + (k + 1) * screen))
        size, seconds = answer(rows, True)
        cold_bytes.append(size)
        cold_s.append(seconds)
    rows = list(range(1000, 1000 + screen))
    warm_s = _median_time(lambda: answer(rows, True), repeats)
    maps_only_bytes, _ = answer(rows, False)
    gallery.method = "gradcam"
    other_method_bytes, other_method_s = answer(rows, False)
    with tempfile.TemporaryDirectory() as tmp:
        page = gallery.to_html(Path(tmp) / "page.html", page=0, page_size=120)
        page_bytes = page.stat().st_size
    order_bytes = 4 * samples
    # The synthetic pictures are flat shapes, which PNG packs small; a photograph's thumbnail lies between them and
    # random noise, which PNG cannot pack at all.
    import numpy as np
    from PIL import Image

    from vl_saliency_widget.widget.serialize import encode_picture

    noise = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    noise_png = len(encode_picture(Image.fromarray(noise))["png"])
    return {
        "samples": samples,
        "write_synthetic_run_s": round(write_s, 2),
        "run_load_s": round(load_s, 3),
        "gallery_build_s": round(build_s, 3),
        "order_bytes_int32": order_bytes,
        "sort_by_number_ms": round(1e3 * sort_number_s, 2),
        "sort_by_text_ms": round(1e3 * sort_text_s, 2),
        "filter_text_then_sort_ms": round(1e3 * filter_s, 2),
        "screen_cards": screen,
        "screen_bytes_with_pictures": int(statistics.median(cold_bytes)),
        "screen_bytes_per_card_with_picture": round(statistics.median(cold_bytes) / screen),
        "screen_from_files_ms": round(1e3 * statistics.median(cold_s), 1),
        "screen_from_cache_ms": round(1e3 * warm_s, 1),
        "screen_bytes_maps_only": maps_only_bytes,
        "screen_bytes_other_method": other_method_bytes,
        "screen_other_method_ms": round(1e3 * other_method_s, 1),
        "exported_page_120_bytes": page_bytes,
        "thumbnail_png_bytes_noise_128x96": noise_png,
    }


def browser_side(folder: Path, repeats: int) -> dict[str, Any]:
    """``test_measurements`` ``repeats`` times on the run in ``folder``; each number's median, and every run's."""
    runs = []
    for k in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "measured.json"
            env = os.environ | {"GALLERY_BENCH_OUT": str(out), "GALLERY_RUN": str(folder)}
            command = [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-m",
                "e2e",
                "-p",
                "no:cacheprovider",
                "tests/e2e/test_gallery_browser.py::test_measurements",
            ]
            done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
            if done.returncode != 0 or not out.is_file():
                raise RuntimeError(f"the browser measurement failed (repeat {k}):\n{done.stdout[-3000:]}")
            runs.append(json.loads(out.read_text()))
    medians: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, (int, float)):
            medians[key] = statistics.median(run[key] for run in runs)
        else:
            medians[key] = [run[key] for run in runs]
    return {"median": medians, "runs": runs}


def markdown(results: dict[str, Any]) -> str:
    kernel, browser = results["kernel"], results["browser"]["median"]
    lines = [
        f"# Gallery benchmark ({kernel['samples']:,} samples)",
        "",
        f"`{results['command']}` on {results['machine']}; load average at the start: {results['load_average']}.",
        "",
        "| in the browser (median of the repeats) | |",
        "|---|---:|",
        "| first paint from the view's mount (every card in view drawn) | "
        f"{browser['view_to_first_paint_ms']:.0f} ms |",
        f"| first paint from running `g = SaliencyGallery(run); g` | {browser['cell_to_first_paint_ms']:.0f} ms |",
        f"| cards in view | {browser['cards_in_view']:.0f} |",
        f"| kernel bytes to build and display | {browser['kernel_bytes_to_build_and_display']:,.0f} |",
        f"| kernel bytes per further screen of cards | {browser['kernel_bytes_per_screen_of_cards']:,.0f} |",
        f"| scroll: main-thread work per frame, median | {browser['scroll_frame_work_median_ms']:.1f} ms |",
        f"| scroll: work per frame, 95th percentile | {browser['scroll_frame_work_p95_ms']:.1f} ms |",
        f"| scroll: interval between frames, median | {browser['scroll_frame_interval_median_ms']:.1f} ms |",
        f"| scroll: most cards in the page | {browser['scroll_most_cards_in_dom']:.0f} |",
        "",
        "| in the kernel | |",
        "|---|---:|",
        f"| `Run.load` | {kernel['run_load_s']:.2f} s |",
        f"| `SaliencyGallery(run)` (the summary's index) | {kernel['gallery_build_s']:.2f} s |",
        f"| sort by a per-token number column / by text / filter then sort | {kernel['sort_by_number_ms']:.1f} / "
        f"{kernel['sort_by_text_ms']:.1f} / {kernel['filter_text_then_sort_ms']:.1f} ms |",
        f"| `order` trait (int32 row indices) | {kernel['order_bytes_int32']:,} bytes |",
        f"| a screen of {kernel['screen_cards']} cards with pictures: bytes | "
        f"{kernel['screen_bytes_with_pictures']:,} |",
        f"| the same: time from the files / from the caches | {kernel['screen_from_files_ms']:.0f} / "
        f"{kernel['screen_from_cache_ms']:.1f} ms |",
        f"| the same cards' maps alone (pictures already in the view) | {kernel['screen_bytes_maps_only']:,} bytes |",
        f"| another method's maps for them | {kernel['screen_bytes_other_method']:,} bytes, "
        f"{kernel['screen_other_method_ms']:.0f} ms |",
        f"| exported page of 120 samples | {kernel['exported_page_120_bytes']:,} bytes |",
        f"| a 128 x 96 thumbnail of random noise, PNG (the most a picture can cost) | "
        f"{kernel['thumbnail_png_bytes_noise_128x96']:,} bytes |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gallery", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--screen", type=int, default=30, help="cards in one request, as a screen of the grid holds")
    parser.add_argument("--out", type=Path, default=REPO / "bench")
    parser.add_argument("--no-browser", action="store_true", help="only the kernel's side")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "run"
        results: dict[str, Any] = {
            "command": "python -m bench.gallery " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
            "load_average": [round(v, 1) for v in os.getloadavg()],
        }
        results["kernel"] = kernel_side(folder, args.samples, args.repeats, args.screen)
        if not args.no_browser:
            results["browser"] = browser_side(folder, args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gallery_results.json").write_text(json.dumps(results, indent=1) + "\n")
    if "browser" in results:
        (args.out / "gallery_results.md").write_text(markdown(results))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
