"""The hub notebook is valid nbformat and its code runs top to bottom on a stand-in model.

It needs the network (hub weights, a picture from a URL), which tests have not: the two downloads are replaced by
the tiny random-weight Qwen2.5-VL of the zoo and a drawn picture, and every other line runs as written, so a call
to an API that does not exist (or no longer does) fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import pytest
import transformers
import transformers.image_utils

from vl_saliency_widget.testing import tiny_image, tiny_vlm

matplotlib.use("Agg")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "huggingface.ipynb"


def test_the_hub_notebook_is_valid_and_its_code_runs_on_a_stand_in_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    model, processor = tiny_vlm("qwen2_5_vl")
    asked: list[str] = []

    def stand_in(result: Any) -> Any:
        def from_pretrained(model_id: str, **kwargs: Any) -> Any:
            asked.append(model_id)
            return result

        return from_pretrained

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", stand_in(model))
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", stand_in(processor))
    monkeypatch.setattr(transformers.image_utils, "load_image", lambda url: tiny_image(size=(168, 112)))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    for cell in notebook.cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, f"{NOTEBOOK.name}:{cell.id}", "exec"), namespace)
    plt.close("all")
    assert asked == [namespace["MODEL_ID"]] * 2 and namespace["MODEL_ID"].startswith("HuggingFaceTB/SmolVLM")
    assert namespace["w"].token >= namespace["trace"].gen_start
    assert (tmp_path / "saliency-hub.html").stat().st_size > 10_000
