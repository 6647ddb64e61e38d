"""The quick-start notebook runs from top to bottom and exports its widget."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
    assert len(widget_views) == 2, "the notebook should display the widget and the one with a user method"
    assert (tmp_path / "saliency.html").stat().st_size > 10_000
