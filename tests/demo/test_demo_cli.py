"""The ``vl-saliency-widget demo`` command: an offline HTML page whose map sits on the queried shape, or JupyterLab
on a copy of the quick-start notebook."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import tomllib
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vl_saliency_widget.demo import cli, toy_samples
from vl_saliency_widget.demo.data import HELD_OUT_SEED

REPO = Path(__file__).resolve().parents[2]


def _array(encoded: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(encoded["data"]["$base64"]), dtype=encoded["dtype"]).reshape(encoded["shape"])


def test_demo_html_writes_an_offline_page_whose_answer_map_points_at_the_shape(tmp_path: Path) -> None:
    path = tmp_path / "demo.html"
    assert cli.main(["demo", "--html", str(path)]) == 0
    page = path.read_text(encoding="utf-8")
    assert re.search(r"https?://", page) is None, "the page must load nothing from the network"
    state = json.loads(re.search(r"<script type='application/json' id='saliency-state'>(.*?)</script>", page).group(1))
    sample = toy_samples(1, HELD_OUT_SEED)[0]
    strings = state["tokens"]["text"]
    assert strings[state["token"]] == f" {sample.answer}", "the answer token is selected, shown with its space"
    assert len(state["images"]) == 1 and "png" in state["images"][0]
    mappable = _array(state["tokens"]["mappable"]).tolist()
    answer_map = _array(state["previews"]["maps"])[mappable.index(state["token"])]
    assert np.unravel_index(answer_map.argmax(), answer_map.shape) == sample.cell


def test_demo_opens_jupyterlab_on_localhost_on_a_copy_of_the_quickstart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def run(command: list[str], *, env: dict[str, str], check: bool) -> subprocess.CompletedProcess[str]:
        calls.append((command, env))
        return subprocess.CompletedProcess(command, 3)

    monkeypatch.setattr(cli.subprocess, "run", run)
    monkeypatch.setattr(cli.tempfile, "mkdtemp", lambda prefix: str(tmp_path))
    assert cli.main(["demo", "--port", "8890", "--", "--no-browser", "--ServerApp.token=secret"]) == 3, (
        "JupyterLab's exit status is the command's"
    )
    [(command, env)] = calls
    copy = tmp_path / "quickstart.ipynb"
    assert command[1:3] == ["-m", "jupyterlab"] and "--ServerApp.ip=127.0.0.1" in command
    assert command[-1] == str(copy) and f"--ServerApp.root_dir={tmp_path}" in command
    assert {"--ServerApp.port=8890", "--no-browser", "--ServerApp.token=secret"} <= set(command)
    assert copy.read_bytes() == (REPO / "notebooks" / "quickstart.ipynb").read_bytes()
    assert str(REPO) in env["PYTHONPATH"].split(os.pathsep), "the kernel imports this checkout"


def test_the_command_line_parses_demo_and_its_options(tmp_path: Path) -> None:
    args = cli.parser().parse_args(["demo", "--html", "page.html"])
    assert args.command == "demo" and args.html == Path("page.html") and args.notebook == cli.QUICKSTART
    assert cli.parser().parse_args(["demo"]).html is None
    with pytest.raises(SystemExit):
        cli.parser().parse_args([])
    args = cli.parser().parse_args(["demo", "--port", "8890", "--", "--no-browser", "--ServerApp.token=x"])
    assert args.port == 8890 and args.jupyter_options == ["--no-browser", "--ServerApp.token=x"]
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["demo", "--no-browser"])  # JupyterLab's options go after --
    with pytest.raises(FileNotFoundError, match="--notebook PATH"):
        cli.main(["demo", "--notebook", str(tmp_path / "missing.ipynb")])


@pytest.mark.parametrize("option", ["--ip=0.0.0.0", "--ip", "--ServerApp.ip=0.0.0.0", "--NotebookApp.ip=::"])
def test_the_demo_refuses_jupyter_options_that_would_listen_beyond_localhost(option: str) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        cli.lab_command(Path("quickstart.ipynb"), options=[option])
    other = "--ServerApp.iopub_data_rate_limit=1e9"
    assert other in cli.lab_command(Path("quickstart.ipynb"), options=[other]), "other options pass through"


def test_the_console_script_runs_the_command_line() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["vl-saliency-widget"].partition(":")
    assert getattr(import_module(module), name) is cli.main
