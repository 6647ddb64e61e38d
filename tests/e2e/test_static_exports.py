"""Static pages of a notebook that shows the widget, opened in headless Chromium with no kernel: they show a map.

- ``jupyter nbconvert --execute --to html`` of the quick-start, opened offline: nbconvert's page cannot run the
  widget (its widget manager comes from unpkg.com), so what shows is the still picture the widget displays after its
  live view (``SaliencyWidget._ipython_display_``).
- ``marimo export html`` of the marimo quick-start: the export holds the widget's state, script and styles, and
  marimo's frontend draws the widget from them. That frontend is marimo's own page script, which the export loads
  from cdn.jsdelivr.net; the test serves those files from the installed marimo package (the same version) and
  blocks every other request, so the widget itself needs nothing from the network.
"""

from __future__ import annotations

import mimetypes
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, kernel_env

pytestmark = pytest.mark.e2e

NOTEBOOKS = REPO / "notebooks"

# How varied an image's pixels are: the number of distinct colours (a blank or flat picture has one or two).
COLOURS = """(element) => {
    const canvas = document.createElement("canvas");
    canvas.width = element.naturalWidth ?? element.width;  // an <img>, or a <canvas>
    canvas.height = element.naturalHeight ?? element.height;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(element, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const seen = new Set();
    for (let i = 0; i < data.length; i += 4) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size;
}"""


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"


def test_nbconvert_html_of_the_quickstart_shows_the_answer_s_map_offline(browser: Any, tmp_path: Path) -> None:
    notebook = Path(shutil.copy(NOTEBOOKS / "quickstart.ipynb", tmp_path))
    command = [sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "html", str(notebook)]
    _run(command, tmp_path, kernel_env(tmp_path))
    context = browser.new_context(offline=True, viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    page.goto((tmp_path / "quickstart.html").as_uri())
    snapshot = page.locator(".vlsw-snapshot").first
    snapshot.wait_for(state="visible")
    picture = snapshot.locator("img")
    picture.wait_for(state="visible")
    assert picture.evaluate("img => img.complete && img.naturalWidth > 0"), "the still picture did not load"
    assert picture.evaluate(COLOURS) > 50, "the still picture is blank"
    assert '" green"' in snapshot.inner_text(), "the caption names the toy model's answer"
    context.close()


def _serve_marimo_frontend(context: Any) -> list[str]:
    """Answer requests for marimo's frontend on its CDN from the installed package; block every other request
    that leaves the page. Returns the blocked URLs (filled as the page loads)."""
    import marimo

    static = Path(marimo.__file__).parent / "_static"
    cdn = f"https://cdn.jsdelivr.net/npm/@marimo-team/frontend@{marimo.__version__}/dist/"
    blocked: list[str] = []

    def route(request: Any) -> None:
        url = request.request.url
        if url.startswith(("file:", "data:", "blob:")):
            request.continue_()
            return
        local = static / url.removeprefix(cdn).split("?")[0] if url.startswith(cdn) else None
        if local is not None and local.is_file():
            kind = mimetypes.guess_type(local.name)[0] or "application/octet-stream"
            request.fulfill(path=str(local), content_type=kind)
            return
        blocked.append(url)
        request.abort()

    context.route("**/*", route)
    return blocked


def test_marimo_export_html_of_the_marimo_quickstart_draws_the_map_without_a_kernel(
    browser: Any, tmp_path: Path
) -> None:
    pytest.importorskip("marimo")
    notebook = Path(shutil.copy(NOTEBOOKS / "quickstart_marimo.py", tmp_path))  # marimo writes a session file by it
    page_path = tmp_path / "quickstart.html"
    command = [sys.executable, "-m", "marimo", "export", "html", str(notebook), "-o", str(page_path)]
    _run(command, tmp_path, kernel_env(tmp_path) | {"MARIMO_SKIP_UPDATE_CHECK": "1"})  # no PyPI query
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    blocked = _serve_marimo_frontend(context)
    page = context.new_page()
    page.goto(page_path.as_uri())
    heatmap = page.locator("[data-testid=heatmap][data-grid]")
    heatmap.wait_for(state="attached")
    token = page.locator("[data-testid=token][aria-selected=true]")
    assert token.inner_text().strip() == "green", "the answer is the selected token"
    assert heatmap.get_attribute("data-token") == token.get_attribute("data-index")
    assert heatmap.get_attribute("data-grid") == "8,8"
    assert heatmap.evaluate(COLOURS) > 50, "the heatmap is blank"
    assert blocked == [], f"the page asked for more than marimo's frontend: {blocked}"
    context.close()
