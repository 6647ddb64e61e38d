"""What the widget shows without a kernel: labelled region scores, the exported page's maps, the still snapshot."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from vl_saliency_widget import SaliencyMap, Trace
from vl_saliency_widget.core.method import MethodInputs, Needs, TraceMethod
from vl_saliency_widget.selectors import AbsoluteIndex
from vl_saliency_widget.widget import SaliencyWidget
from vl_saliency_widget.widget.static import heading

from .synthetic import synthetic_trace

STRINGS = ["What", " colour", " is", " it", "?", " green", " and", " round"]


@pytest.fixture(scope="module")
def trace() -> Trace:
    return synthetic_trace(STRINGS, layers=3, heads=2, grid=(4, 6), gen_start=5)


class Squared(TraceMethod):
    """Attention squared: a second method that needs attention only."""

    needs = Needs(attention=True)
    name = "squared"

    def compute(self, inputs: MethodInputs) -> SaliencyMap:
        return SaliencyMap(inputs.attn.tensor() ** 2)


def make(trace: Trace, **kwargs: Any) -> SaliencyWidget:
    widget = SaliencyWidget(trace, **kwargs)
    widget.send = lambda *args, **kw: None  # type: ignore[method-assign]
    return widget


def decode(spec: dict[str, Any]) -> np.ndarray:
    data = spec["data"]
    raw = base64.b64decode(data["$base64"]) if isinstance(data, dict) else data
    return np.frombuffer(raw, dtype=spec["dtype"]).reshape(spec["shape"])


def exported_state(path: Path) -> dict[str, Any]:
    page = path.read_text()
    found = re.search(r"<script type='application/json' id='saliency-state'>(.*?)</script>", page, re.S)
    assert found, "the page holds no state"
    return dict(json.loads(found.group(1)))


def test_token_scores_are_labelled_by_position_and_print_as_a_table(trace: Trace) -> None:
    widget = make(trace)
    widget.region = (0, 0, 30, 20)
    scores = widget.token_scores
    assert scores is not None
    expected = trace.tokens_for((0, 0, 30, 20))
    torch.testing.assert_close(scores.tensor, expected, equal_nan=True)
    finite = [p for p in range(len(expected)) if not torch.isnan(expected[p])]
    assert list(scores) == finite and len(scores) == len(finite) == len(trace.text_positions)
    assert dict(scores) == {p: float(expected[p]) for p in finite}
    with pytest.raises(KeyError, match="no score"):
        scores[0]
    top, text, value = scores.top(1)[0]
    assert top == max(finite, key=lambda p: float(expected[p])) and value == float(expected[top])
    assert text == trace.token_strings[top]
    printed = repr(scores)
    assert "position" in printed and json.dumps(text, ensure_ascii=False) in printed and "nan" not in printed.lower()
    assert printed.splitlines()[2].split()[0] == str(top), "the table starts with the highest score"


def test_the_heading_reads_the_prompt_and_the_answer_from_the_tokens(trace: Trace) -> None:
    assert heading(trace) == {"prompt": "What colour is it?", "answer": "green and round"}


def test_to_html_holds_every_method_and_the_answer_s_layers_x_heads(trace: Trace, tmp_path: Path) -> None:
    widget = make(trace, methods={"squared": Squared()})
    state = exported_state(widget.to_html(tmp_path / "page.html"))
    held = state["static"]
    assert list(held["methods"]) == widget.methods
    assert held["heading"] == heading(trace)
    answer = [p for p in trace.text_positions if p >= trace.gen_start]
    for name, method in [("attn", "attn"), ("squared", widget._methods["squared"])]:
        grids = held["methods"][name]["grids"]
        assert decode(grids["positions"]).tolist() == answer
        for row, position in enumerate(answer):
            expected = trace.map(AbsoluteIndex(position), mode=method).numpy()
            np.testing.assert_allclose(decode(grids["maps"])[row], expected, rtol=1e-6)
        previews = held["methods"][name]["previews"]
        rows = [trace.text_positions.index(p) for p in answer]
        assert decode(previews["ready"])[rows].all()
        expected_agg = trace.map(AbsoluteIndex(answer[0]), mode=method).agg().numpy()[0, 0]
        np.testing.assert_allclose(decode(previews["maps"])[rows[0]], expected_agg, rtol=1e-5)
        assert held["methods"][name]["note"] == ""
    assert state["previews"] == held["methods"]["attn"]["previews"]


def test_to_html_holds_each_answer_token_s_image_share_not_only_the_selected_one(trace: Trace, tmp_path: Path) -> None:
    widget = make(trace)
    focus = exported_state(widget.to_html(tmp_path / "page.html"))["static"]["focus"]
    answer = [p for p in trace.text_positions if p >= trace.gen_start]
    assert sorted(map(int, focus)) == answer
    for position in answer:
        held = focus[str(position)]
        assert held["token"] == position
        share = trace.image_share(AbsoluteIndex(position)).float().mean(-1).numpy()
        np.testing.assert_array_equal(decode(held["image_share"]), share.astype(np.float32))  # the same computation
    assert not np.array_equal(*(decode(focus[str(p)]["image_share"]) for p in answer[:2])), "tokens differ"


def test_to_html_keeps_the_grids_within_their_budget_and_says_what_it_left_out(trace: Trace, tmp_path: Path) -> None:
    one_map_mib = 3 * 2 * 4 * 6 * 4 / 2**20  # [layers, heads, h, w] float32
    widget = make(trace)
    state = exported_state(widget.to_html(tmp_path / "page.html", grid_budget_mib=2.5 * one_map_mib))
    attn = state["static"]["methods"]["attn"]
    assert decode(attn["grids"]["positions"]).tolist() == [trace.gen_start, trace.gen_start + 1]
    assert "1 of the answer's 3 tokens are left out" in attn["note"] and "grid_budget_mib" in attn["note"]


def test_the_snapshot_is_the_map_on_screen_over_the_picture(trace: Trace) -> None:
    widget = make(trace)
    page = widget.snapshot()
    found = re.search(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert found, page[:200]
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(found.group(1)))).convert("RGB"))
    assert pixels.std() > 10, "the snapshot is blank"
    assert html.escape(f'"{trace.token_strings[widget.token]}" (position {widget.token})') in page
    assert "vlsw-snapshot" in page and ".jp-OutputArea-child:has(.vlsw-root)" in page


def test_the_snapshot_escapes_token_text_and_says_when_a_map_is_constant() -> None:
    hostile = synthetic_trace(["Look", "<img src=x onerror=alert(1)>", " done"], gen_start=1)
    widget = make(hostile, pipeline=lambda m: m * 0)
    widget.token = hostile.token_strings.index("<img src=x onerror=alert(1)>")
    page = widget.snapshot()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "the same value everywhere: nothing to show" in page
