"""The ``vl-saliency-widget`` command.

``vl-saliency-widget demo`` opens JupyterLab (on 127.0.0.1) on a fresh copy of the quick-start notebook, which runs
offline on the toy model and ends in the widget; ``--port N`` picks its port and JupyterLab options go after ``--``
(``vl-saliency-widget demo --port 8890 -- --no-browser --ServerApp.token=secret``).
``vl-saliency-widget demo --html PATH`` writes the widget of one toy sample as a standalone HTML page instead.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
"""The ``vl_saliency_widget`` package folder."""

QUICKSTART = PACKAGE_ROOT.parent / "notebooks" / "quickstart.ipynb"
"""The quick-start notebook of a checkout (the repository holds the package next to ``notebooks/``)."""


def write_demo_html(path: Path) -> Path:
    """Write the widget for the first held-out toy sample, with its answer, to ``path`` as one offline HTML page.

    Returns the path written.
    """
    import torch

    from ..core.extractor import SaliencyExtractor
    from ..widget import SaliencyWidget
    from .data import HELD_OUT_SEED, toy_samples
    from .model import load_toy_vlm
    from .parts import chat_inputs

    torch.set_num_threads(1)  # the toy model is too small to gain from more threads
    model, processor = load_toy_vlm()
    sample = toy_samples(1, HELD_OUT_SEED)[0]
    inputs = cast(dict[str, Any], chat_inputs(processor, sample.messages))
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    trace = SaliencyExtractor(model, processor).capture(**inputs, generated_ids=generated, images=[sample.image])
    return SaliencyWidget(trace).to_html(path, title=f"Saliency: {sample.question}")


LISTEN_OPTION = re.compile(r"--(?:\w+\.)?ip(?:=|$)")
"""A JupyterLab option that would choose the interface to listen on (``--ip``, ``--ServerApp.ip=...``)."""


def lab_command(notebook: Path, port: int | None = None, options: Sequence[str] = ()) -> list[str]:
    """The command that serves JupyterLab on 127.0.0.1 from ``notebook``'s folder and opens ``notebook``.

    As root (a container), it adds ``--allow-root``, without which JupyterLab refuses to start; the server still
    listens on the local interface only.

    Args:
        port: the server's port; ``None``: JupyterLab's default (8888, or the next free one).
        options: further JupyterLab options, passed as they are (``--no-browser``, ``--ServerApp.token=...``).

    Raises:
        ValueError: ``options`` choose the interface to listen on: the demo listens on 127.0.0.1 only.
    """
    for option in options:
        if LISTEN_OPTION.match(option):
            raise ValueError(
                f"The demo serves on 127.0.0.1 only; drop {option!r}, or start `jupyter lab` yourself to listen "
                "elsewhere."
            )
    root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={notebook.parent}",
        *([] if port is None else [f"--ServerApp.port={port}"]),
        *root,
        *options,
        str(notebook),
    ]


def open_quickstart(notebook: Path = QUICKSTART, port: int | None = None, options: Sequence[str] = ()) -> int:
    """Copy ``notebook`` into a new temporary folder (the checkout stays clean and the notebook's exports land
    there) and run JupyterLab on the copy until it is stopped; return its exit status.

    The kernel imports this package from where it is, installed or not. ``port`` and ``options`` go to
    :func:`lab_command`.

    Raises:
        FileNotFoundError: ``notebook`` does not exist.
        ModuleNotFoundError: JupyterLab is not installed.
        ValueError: ``options`` choose the interface to listen on.
    """
    if not notebook.is_file():
        raise FileNotFoundError(
            f"No notebook at {notebook}: the quick-start notebook ships with the repository, not with the wheel. "
            "Clone the repository, or pass --notebook PATH."
        )
    if importlib.util.find_spec("jupyterlab") is None:
        raise ModuleNotFoundError("The demo runs in JupyterLab, which is not installed: pip install jupyterlab.")
    folder = Path(tempfile.mkdtemp(prefix="vl-saliency-demo-"))
    copy = Path(shutil.copy(notebook, folder / notebook.name))
    paths = [str(PACKAGE_ROOT.parent), os.environ.get("PYTHONPATH", "")]
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, paths))}
    command = lab_command(copy, port, options)
    print(f"Opening {copy} (a copy of {notebook}) in JupyterLab; stop it with Ctrl-C.", flush=True)
    return subprocess.run(command, env=env, check=False).returncode


def parser() -> argparse.ArgumentParser:
    """The command line: ``vl-saliency-widget demo [--html PATH] [--notebook PATH] [--port N] [-- JUPYTER_OPTION...]``
    and ``vl-saliency-widget run`` (a dataset run, ``vl_saliency_widget.runs.cli``)."""
    root = argparse.ArgumentParser(
        prog="vl-saliency-widget", description="Saliency maps of vision-language models: the offline toy-model demo."
    )
    commands = root.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="open the quick-start notebook on the toy model in JupyterLab",
        description="Open JupyterLab on 127.0.0.1 on a copy of the quick-start notebook (toy model, offline).",
    )
    demo.add_argument(
        "--html", type=Path, metavar="PATH", help="write the widget of one toy sample to PATH instead (no Jupyter)"
    )
    demo.add_argument(
        "--notebook",
        type=Path,
        default=QUICKSTART,
        metavar="PATH",
        help=f"the notebook to open (default: {QUICKSTART})",
    )
    demo.add_argument("--port", type=int, help="JupyterLab's port (default: 8888, or the next free one)")
    demo.add_argument(
        "jupyter_options",
        nargs="*",
        metavar="-- JUPYTER_OPTION",
        help="after --, options for JupyterLab, e.g. -- --no-browser --ServerApp.token=secret (it stays on 127.0.0.1)",
    )
    from ..runs.cli import add_parser as add_run_parser

    add_run_parser(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = parser().parse_args(argv)
    if args.command == "run":
        from ..runs.cli import run_command

        return run_command(args)
    if args.html is not None:
        path = write_demo_html(args.html)
        print(f"Wrote {path}: open it in a browser (no network needed).")
        return 0
    return open_quickstart(args.notebook, args.port, args.jupyter_options)


if __name__ == "__main__":
    sys.exit(main())
