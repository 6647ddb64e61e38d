"""``bash scripts/demo.sh`` on a set-up clone: a second start does no setup work and serves JupyterLab on 127.0.0.1
without jupyter_builder's yarn noise; ``--help`` answers without setting anything up.

How long the second start takes until the server answers is measured and reported (``record_property`` and the
test's output), never asserted: it depends on the machine and its load.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
UP_TO_DATE = [
    "setup: Python packages up to date (pyproject.toml unchanged since they were installed)",
    "widget-setup: node_modules up to date (package-lock.json unchanged since npm ci)",
    "widget-setup: widget bundle up to date (nothing under js/ is newer than it)",
    "widget-setup: e2e Python packages up to date (pyproject.toml unchanged since they were installed)",
]
"""What setup prints when every step is skipped, in order: no pip, npm or esbuild output besides."""


def _set_up() -> None:
    if not (REPO / ".venv" / ".stamps" / "pip").is_file():
        pytest.skip("needs the clone set up by bash scripts/setup.sh (no .venv/.stamps/pip)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_help_answers_without_setting_anything_up() -> None:
    result = subprocess.run(["bash", "scripts/demo.sh", "--help"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Set up (scripts/setup.sh) and run the demo")
    assert "--port N" in result.stdout and "-- JUPYTER_OPTION" in result.stdout
    assert "setup:" not in result.stdout, "--help ran the setup"


def test_a_second_setup_does_no_work() -> None:
    _set_up()
    subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO, check=True, capture_output=True, timeout=1800)
    second = subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert (second.stdout + second.stderr).splitlines() == UP_TO_DATE


def test_a_second_demo_start_serves_the_quickstart_on_localhost_without_setup_work(
    tmp_path: Path, record_property: Any
) -> None:
    _set_up()
    subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO, check=True, capture_output=True, timeout=1800)
    port, token = _free_port(), "demo-test-token"
    env = os.environ | {
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
    }
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        start = time.monotonic()
        demo = subprocess.Popen(
            ["bash", "scripts/demo.sh", "--port", str(port), "--", "--no-browser", f"--IdentityProvider.token={token}"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: the script, the command and JupyterLab
        )
        try:
            status = None
            while status is None:
                try:
                    url = f"http://127.0.0.1:{port}/api/contents?token={token}"
                    with urllib.request.urlopen(url, timeout=2) as response:
                        status = json.load(response)
                except OSError:
                    assert demo.poll() is None, f"the demo exited:\n{log.read_text()}"
                    assert time.monotonic() - start < 600, f"no server after 10 minutes:\n{log.read_text()}"
                    time.sleep(0.05)
            seconds = time.monotonic() - start
        finally:
            os.killpg(demo.pid, signal.SIGTERM)
            demo.wait(timeout=30)
    record_property("second_demo_start_seconds", round(seconds, 2))
    print(f"\nbash scripts/demo.sh: JupyterLab answered {seconds:.1f} s after the start (second run)")
    output = log.read_text()
    lines = output.splitlines()
    assert lines[: len(UP_TO_DATE)] == UP_TO_DATE, f"setup did work on the second run:\n{output}"
    assert lines[len(UP_TO_DATE)].startswith("Opening "), "nothing but the up-to-date lines before the demo starts"
    assert [item["name"] for item in status["content"]] == ["quickstart.ipynb"], "the server shows the copy alone"
    assert f"http://127.0.0.1:{port}/" in output
    assert "yarn configuration" not in output and "Dynamic require" not in output, output
