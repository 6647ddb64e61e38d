"""The hub notebook is valid nbformat, its code runs top to bottom, and offline it says in one line what is missing.

It needs the network (hub weights, a picture from a URL), which tests have not: the two downloads are replaced by
the tiny random-weight Qwen2.5-VL of the zoo and a drawn picture, and every other line runs as written, so a call
to an API that does not exist (or no longer does) fails here. Offline, it runs on a local folder (the toy model's)
and stops with one line, in a real kernel, when there are neither weights nor network.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import huggingface_hub
import matplotlib
import matplotlib.pyplot as plt
import pytest
import transformers
import transformers.image_utils

from vl_saliency_widget.demo import toy_samples
from vl_saliency_widget.demo.model import WEIGHTS_DIR
from vl_saliency_widget.testing import tiny_image, tiny_vlm

matplotlib.use("Agg")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "huggingface.ipynb"


class _HubAnswers:
    """An HTTP session whose every request succeeds: the hub seen from a machine with network."""

    def head(self, url: str, **kwargs: Any) -> None:
        return None


def _refuse_network(*args: object, **kwargs: object) -> None:
    raise OSError("no network in this test")


def _run_cells(cells: list[Any], namespace: dict[str, Any]) -> None:
    for cell in cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, f"{NOTEBOOK.name}:{cell.id}", "exec"), namespace)
    plt.close("all")


def test_the_hub_notebook_is_valid_and_its_code_runs_on_a_stand_in_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    model, processor = tiny_vlm("qwen2_5_vl")
    asked: list[tuple[str, bool]] = []

    def stand_in(result: Any) -> Any:
        def from_pretrained(model_id: str, **kwargs: Any) -> Any:
            asked.append((model_id, kwargs["local_files_only"]))
            return result

        return from_pretrained

    monkeypatch.setattr(huggingface_hub, "get_session", _HubAnswers)
    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", stand_in(model))
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", stand_in(processor))
    monkeypatch.setattr(transformers.image_utils, "load_image", lambda url: tiny_image(size=(168, 112)))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    _run_cells(notebook.cells, namespace)
    assert asked == [(namespace["MODEL_ID"], False)] * 2, "online, the weights come from the hub"
    assert namespace["MODEL_ID"].startswith("HuggingFaceTB/SmolVLM")
    assert namespace["w"].token >= namespace["trace"].gen_start
    assert (tmp_path / "saliency-hub.html").stat().st_size > 10_000


def test_offline_the_hub_notebook_runs_on_a_local_folder_and_a_local_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    picture = tmp_path / "picture.png"
    toy_samples(1)[0].image.save(picture)
    setup = notebook.cells[1]
    setup.source, count = re.subn(r'(?m)^MODEL_ID = ".*$', f"MODEL_ID = {str(WEIGHTS_DIR)!r}", setup.source)
    setup.source, count2 = re.subn(r'(?m)^IMAGE = ".*$', f"IMAGE = {str(picture)!r}", setup.source)
    assert count == count2 == 1, "the notebook's first code cell sets MODEL_ID and IMAGE"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(socket.socket, "connect", _refuse_network)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    _run_cells(notebook.cells, namespace)
    assert namespace["online"] is False
    assert type(namespace["model"]).__name__ == "LlavaForConditionalGeneration", "the toy model, from its folder"
    assert (tmp_path / "saliency-hub.html").stat().st_size > 10_000


def test_offline_without_weights_the_hub_notebook_stops_with_one_line_in_a_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real kernel with an empty hub cache and a hub that refuses connections: the first code cell's whole output
    is one line naming what to do, and the run stops there."""
    nbclient = pytest.importorskip("nbclient")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    with pytest.raises(nbclient.exceptions.CellExecutionError):
        client.execute()
    outputs = [(cell.id, output) for cell in notebook.cells for output in cell.get("outputs", [])]
    assert len(outputs) == 1, outputs
    [(cell_id, output)] = outputs
    assert cell_id == notebook.cells[1].id and output.output_type == "error"
    assert output.traceback == [
        "No network and no cached weights for HuggingFaceTB/SmolVLM-256M-Instruct: set MODEL_ID to a local folder "
        "holding a saved model, or run quickstart.ipynb, which runs offline on the toy model."
    ]
