"""Browser tests: JupyterLab 4, Jupyter Notebook 7 and marimo on 127.0.0.1, driven by Playwright in Debian's headless
Chromium.

Run them with ``pytest -m e2e tests/e2e`` after ``bash scripts/widget-setup.sh``. Where Chromium, a host or the built
bundle is missing they are skipped, except under CI (``CI`` set), where that is a failure.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def _missing(modules: tuple[str, ...] = ("playwright", "jupyterlab")) -> str | None:
    """What the browser tests need and this machine lacks, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if not BUNDLE.exists():
        return f"{BUNDLE} is missing (npm ci && npm run build)"
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            return f"python package {module} is missing (pip install -e '.[e2e]')"
    return None


def _require(*modules: str) -> None:
    """Skip the test when ``modules`` (or Chromium, or the bundle) are missing; under CI, fail instead."""
    missing = _missing(modules)
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run: {missing}; run scripts/widget-setup.sh first")
        pytest.skip(f"browser tests need: {missing}; run scripts/widget-setup.sh")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, launched by Playwright with an empty profile."""
    _require("playwright")
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


class Jupyter:
    """A Jupyter server on 127.0.0.1 with a token, serving ``root`` in JupyterLab 4 or Jupyter Notebook 7 (``app``:
    ``"jupyterlab"`` or ``"notebook"``); both expose their application object as ``window.jupyterapp``."""

    def __init__(self, app: str, root: Path, port: int, token: str) -> None:
        self.app, self.root, self.port, self.token = app, root, port, token

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def notebook_path(self, name: str) -> str:
        """Where the app opens notebook ``name`` alone."""
        if self.app == "notebook":
            return f"notebooks/{name}"
        # A workspace per notebook: JupyterLab would otherwise reopen the notebooks of earlier pages beside it.
        return f"lab/workspaces/{Path(name).stem}/tree/{name}"

    def open_notebook(self, browser: Any, name: str, cells: list[str]) -> NotebookPage:
        """Write a notebook, open it in a new browser context and run all its cells."""
        (self.root / name).write_text(notebook(cells))
        page = new_page(browser)
        received: list[int] = []
        page.on(
            "websocket",
            lambda socket: socket.on("framereceived", lambda payload: received.append(len(payload))),
        )
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(self.url(self.notebook_path(name)))
        page.wait_for_function(
            """() => {
                const kernel = window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel;
                return kernel?.connectionStatus === "connected" && kernel.status === "idle";
            }"""
        )
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        return NotebookPage(page, received, dialogs)


def new_page(browser: Any) -> Any:
    """A page in a new browser context (its own cookies and storage), 1300 x 1000, downloads allowed."""
    context = browser.new_context(viewport={"width": 1300, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


def kernel_env(base: Path) -> dict[str, str]:
    """The environment of a server whose kernels import this checkout's package, with Jupyter's per-user folders
    (config, runtime, data, JupyterLab's settings and workspaces) under ``base``."""
    return os.environ | {
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
    }


@contextmanager
def serve(command: list[str], env: dict[str, str], log_path: Path, answers: Callable[[], bool]) -> Iterator[None]:
    """Run a server until the block ends; return from ``with`` once ``answers()`` holds (up to a minute)."""
    log = log_path.open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not answers():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{command[2]} did not start; its log:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _answers(url: str) -> Callable[[], bool]:
    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    return answers


@contextmanager
def jupyter_server(app: str, base: Path) -> Iterator[Jupyter]:
    """JupyterLab (``app="jupyterlab"``) or Notebook 7 (``"notebook"``) on 127.0.0.1 with a token, serving
    ``base/root``, without news or update checks."""
    root = base / "root"
    root.mkdir()
    # No "would you like news?" toast over the widget: JupyterLab and Notebook 7 read user settings from this folder.
    notification = base / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    server = Jupyter(app, root, _free_port(), secrets.token_hex(16))
    options = {
        "jupyterlab": [
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        "notebook": ["--JupyterNotebookApp.expose_app_in_browser=True"],
    }
    command = [
        sys.executable,
        "-m",
        app,
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={server.port}",
        f"--IdentityProvider.token={server.token}",
        f"--ServerApp.root_dir={root}",
        *options[app],
    ]
    with serve(command, kernel_env(base), base / f"{app}.log", _answers(server.url("api/status"))):
        yield server


@pytest.fixture(scope="session")
def lab(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jupyter]:
    """JupyterLab 4 for the session; the kernel imports this checkout's package."""
    with jupyter_server("jupyterlab", tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="session")
def notebook7(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jupyter]:
    """Jupyter Notebook 7 for the session; the kernel imports this checkout's package."""
    _require("notebook")
    with jupyter_server("notebook", tmp_path_factory.mktemp("notebook7")) as server:
        yield server


class Marimo:
    """``marimo run`` on 127.0.0.1 with a token, serving one notebook as an app."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?access_token={self.token}"

    def open(self, browser: Any) -> Any:
        """The app in a new browser context: marimo runs the notebook's cells in a new kernel for the page."""
        page = new_page(browser)
        page.goto(self.url())
        return page


@contextmanager
def marimo_app(notebook: Path, base: Path) -> Iterator[Marimo]:
    """Serve the marimo notebook ``notebook`` (a ``.py`` file) with ``marimo run``; its kernels import this
    checkout's package. ``base``: a folder for the server's log and Jupyter's per-user folders."""
    _require("marimo")
    server = Marimo(_free_port(), secrets.token_hex(16))
    command = [
        sys.executable,
        "-m",
        "marimo",
        "run",
        str(notebook),
        "--headless",
        "--host=127.0.0.1",
        f"--port={server.port}",
        "--token",
        f"--token-password={server.token}",
        "--no-sandbox",
    ]
    env = kernel_env(base) | {"MARIMO_SKIP_UPDATE_CHECK": "1"}  # no PyPI query at start
    with serve(command, env, base / "marimo.log", _answers(server.url())):
        yield server
