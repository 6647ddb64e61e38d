"""The quick-start notebook runs from top to bottom and exports its widget; a notebook converted to HTML shows a map."""

from __future__ import annotations

import base64
import html
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

nbclient = pytest.importorskip("nbclient", reason="running notebooks needs the e2e extra (jupyterlab, nbclient)")
nbformat = pytest.importorskip("nbformat")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_runs_and_shows_the_widget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel runs in tmp_path (where the export lands) and imports this checkout, installed or not.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    # Other widgets may show too (a method's progress bar): count the saliency widget's views.
    widget_views = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
        and "SaliencyWidget" in output["data"].get("text/plain", "")
    ]
    assert len(widget_views) == 3, "the widget, the one with a user method and the binding toy's"
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.get("id") == "quickstart-binding-01"
        for output in cell.outputs
    )
    assert "What color is the circle? -> 'red'" in printed, printed
    assert (tmp_path / "saliency.html").stat().st_size > 10_000


def test_nbconvert_html_shows_the_map_without_a_kernel(tmp_path: Path) -> None:
    """``jupyter nbconvert --execute --to html``: the page, opened without a kernel or widget manager, shows the
    widget's still picture of its map (``snapshot.py``), not an empty output."""
    source = "\n".join(
        [
            "from tests.widget.synthetic import synthetic_trace",
            "from vl_saliency_widget.widget import SaliencyWidget",
            "SaliencyWidget(synthetic_trace([' a', ' red', ' square', ' left'], layers=2, heads=2))",
        ]
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    path = tmp_path / "widget.ipynb"
    nbformat.write(notebook, path)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "html", str(path)],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=300,
    )
    page = (tmp_path / "widget.html").read_text()
    pictures = re.findall(r'class="vlsw-snapshot".*?<img[^>]*src="data:image/png;base64,([^"]+)"', page, re.S)
    assert len(pictures) == 1, "the converted page holds no still picture of the widget"
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(pictures[0]))).convert("RGB"), dtype=float)
    assert pixels.std() > 10, "the still picture is blank"
    assert re.search(r'" left" \(position \d+\) · attn · mean over layers', html.unescape(page)), "no caption"
