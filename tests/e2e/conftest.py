"""Browser tests: JupyterLab on 127.0.0.1 driven by Playwright in Debian's headless Chromium.

Run them with ``pytest -m e2e tests/e2e`` after ``bash scripts/widget-setup.sh``. Where Chromium, JupyterLab or the
built bundle is missing they are skipped, except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BUNDLE = REPO / "vl_saliency_widget" / "widget" / "static" / "widget.js"
TIMEOUT_MS = 60_000


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end test in a real browser (JupyterLab + headless Chromium)")


def _missing() -> str | None:
    """What the browser tests need and this machine lacks, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if not BUNDLE.exists():
        return f"{BUNDLE} is missing (npm ci && npm run build)"
    for module in ("playwright", "jupyterlab"):
        try:
            __import__(module)
        except ImportError:
            return f"python package {module} is missing (pip install -e '.[e2e]')"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, launched by Playwright with an empty profile."""
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run: {missing}; run scripts/widget-setup.sh first")
        pytest.skip(f"browser tests need: {missing}; run scripts/widget-setup.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def notebook(cells: list[str]) -> str:
    """An nbformat 4 notebook of code cells, as JSON text."""
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [
                {
                    "cell_type": "code",
                    "id": f"cell{i}",
                    "metadata": {},
                    "source": src,
                    "outputs": [],
                    "execution_count": None,
                }
                for i, src in enumerate(cells)
            ],
        }
    )


class NotebookPage:
    """A notebook open in JupyterLab, with its cells run, and a way to run code in its kernel."""

    def __init__(self, page: Any, received: list[int], dialogs: list[str]) -> None:
        self.page = page
        self.received = received
        """Sizes in bytes of every websocket frame the page received (kernel messages), in order."""
        self.dialogs = dialogs
        """Messages of the dialogs (alert, confirm, prompt) the page opened; each was dismissed."""
        self.console: list[str] = []
        page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    def wait(self, condition: str, arg: Any = None) -> None:
        """Wait until the JS ``condition`` holds; on timeout, fail with what the widget showed and logged."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(condition, arg=arg)
        except PlaywrightTimeout:
            state = self.page.evaluate(
                """() => ({
                    root: { ...document.querySelector(".vlsw-root")?.dataset },
                    heatmap: { ...document.querySelector("[data-testid=heatmap]")?.dataset },
                    error: document.querySelector("[data-testid=error]")?.textContent,
                    caption: document.querySelector("[data-testid=caption]")?.textContent,
                })"""
            )
            log = "\n".join(self.console[-30:])
            raise AssertionError(f"timed out waiting for {condition}\nwidget: {state}\nconsole:\n{log}") from None

    def close(self) -> None:
        self.page.context.close()

    def run(self, code: str) -> str:
        """Execute ``code`` in the notebook's kernel; returns its stdout. Raises on an error."""
        result = self.page.evaluate(
            """async (code) => {
                const panel = window.jupyterapp.shell.currentWidget;
                const future = panel.sessionContext.session.kernel.requestExecute({ code, store_history: false });
                let out = "", error = null;
                future.onIOPub = (msg) => {
                    if (msg.header.msg_type === "stream") out += msg.content.text;
                    if (msg.header.msg_type === "error") error = msg.content.ename + ": " + msg.content.evalue;
                };
                await future.done;
                return { out, error };
            }""",
            code,
        )
        if result["error"]:
            raise AssertionError(f"kernel error running {code!r}: {result['error']}")
        return str(result["out"])

    def value(self, expression: str) -> Any:
        """The JSON value of a Python ``expression`` evaluated in the kernel."""
        return json.loads(self.run(f"import json as _json; print(_json.dumps({expression}))"))


class Lab:
    """A JupyterLab server on 127.0.0.1 with a token, serving ``root``."""

    def __init__(self, root: Path, port: int, token: str) -> None:
        self.root, self.port, self.token = root, port, token

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def open_notebook(self, browser: Any, name: str, cells: list[str]) -> NotebookPage:
        """Write a notebook, open it in a new browser context and run all its cells."""
        (self.root / name).write_text(notebook(cells))
        context = browser.new_context(viewport={"width": 1300, "height": 1000}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        received: list[int] = []
        page.on(
            "websocket",
            lambda socket: socket.on("framereceived", lambda payload: received.append(len(payload))),
        )
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        # A workspace per notebook: JupyterLab would otherwise reopen the notebooks of earlier pages beside it.
        page.goto(self.url(f"lab/workspaces/{Path(name).stem}/tree/{name}"))
        page.wait_for_function(
            """() => {
                const kernel = window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel;
                return kernel?.connectionStatus === "connected" && kernel.status === "idle";
            }"""
        )
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        return NotebookPage(page, received, dialogs)


@pytest.fixture(scope="session")
def lab(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Start JupyterLab for the session; the kernel imports this checkout's package."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    # No "would you like news?" toast over the widget: JupyterLab reads user settings from this folder.
    notification = base / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = os.environ | {
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
    }
    log = (base / "lab.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Lab(root, port, token)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(server.url("api/status"), timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start; its log:\n{(base / 'lab.log').read_text()}")
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
