"""The widget's image-to-text, compare and head-ranking features: what Python sends equals the library's answer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from traitlets import TraitError

from vl_saliency_widget import SaliencyExtractor, SaliencyMap, Trace
from vl_saliency_widget import transforms as T
from vl_saliency_widget.lib import difference, gradcam, rank_localization_heads
from vl_saliency_widget.selectors import AbsoluteIndex
from vl_saliency_widget.testing import tiny_image, tiny_vlm
from vl_saliency_widget.widget import SaliencyWidget

from .synthetic import synthetic_trace

STRINGS = ["What", " colour", " is", " it", "?", " green", " and", " round"]


@pytest.fixture(scope="module")
def trace() -> Trace:
    return synthetic_trace(STRINGS, layers=3, heads=2, grid=(4, 6))


def make(trace: Trace, **kwargs: Any) -> SaliencyWidget:
    widget = SaliencyWidget(trace, **kwargs)
    widget.send = lambda *args, **kw: None  # type: ignore[method-assign]
    return widget


def decode(spec: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(spec["data"], dtype=spec["dtype"]).reshape(spec["shape"])


def shown(trace: Trace, position: int, pipeline: Any = None) -> SaliencyMap:
    smap = trace.map(AbsoluteIndex(position))
    return (smap >> pipeline if pipeline is not None else smap).agg()


def test_a_box_region_scores_every_token_as_tokens_for_does(trace: Trace) -> None:
    widget = make(trace)
    assert widget.token_scores is None and widget.region_scores == {}
    widget.region = (0, 0, 30, 20)
    expected = trace.tokens_for((0, 0, 30, 20), 0, "attn")
    torch.testing.assert_close(widget.token_scores.tensor, expected, equal_nan=True)
    assert widget.region_scores["mode"] == "attn" and widget.region_scores["image_index"] == 0
    # The outline is the cells the box covers: 84 x 56 pixels, 6 x 4 cells of 14 pixels -> cols 0-2, rows 0-1.
    assert widget.region_scores["box"] == [0.0, 0.0, 3 / 6, 2 / 4]


def test_a_click_on_the_picture_scores_the_cell_under_it_and_a_drag_the_box(trace: Trace) -> None:
    widget = make(trace)
    widget._on_message(widget, {"type": "region", "point": [0.99, 0.3]}, [])
    assert widget.region == (1, 5)
    torch.testing.assert_close(widget.token_scores.tensor, trace.tokens_for((1, 5)), equal_nan=True)
    widget._on_message(widget, {"type": "region", "box": [0.5, 0.5, 1.0, 1.0]}, [])
    assert widget.region == (42.0, 28.0, 84.0, 56.0)
    torch.testing.assert_close(widget.token_scores.tensor, trace.tokens_for((42.0, 28.0, 84.0, 56.0)), equal_nan=True)
    widget._on_message(widget, {"type": "region"}, [])
    assert widget.region is None and widget.token_scores is None and widget.region_scores == {}


def test_region_scores_follow_the_aggregation_and_a_bad_region_is_refused(trace: Trace) -> None:
    widget = make(trace, region=None)
    widget.region = (2, 3)
    widget.layer_reduce = "max"
    expected = trace.tokens_for((2, 3), layer_reduce="max")
    torch.testing.assert_close(widget.token_scores.tensor, expected, equal_nan=True)
    with pytest.raises(TraitError, match="outside the map's grid"):
        widget.region = (9, 9)
    widget._on_message(widget, {"type": "region", "box": [0.1, 0.2]}, [])
    assert "4 numbers" in widget.error and widget.region == (2, 3)


def test_a_method_that_is_not_a_string_mode_scores_regions_with_attention() -> None:
    model, processor = tiny_vlm("qwen2_vl")
    image = tiny_image()
    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "Where?"}]}]
    inputs = processor.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_tensors="pt", add_generation_prompt=True
    )
    generated = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    captured = SaliencyExtractor(model, processor).capture(**inputs, generated_ids=generated, images=[image])
    widget = make(captured, mode=gradcam)
    widget.region = (0, 0)
    assert widget.region_scores["mode"] == "attn"
    torch.testing.assert_close(widget.token_scores.tensor, captured.tokens_for((0, 0), mode="attn"), equal_nan=True)


def test_compare_token_shows_the_signed_difference_of_the_two_maps(trace: Trace) -> None:
    widget = make(trace)
    a, b = trace.text_positions[-1], trace.text_positions[2]
    widget.token = a
    assert widget.comparison == {}
    widget.compare_token = b
    expected = difference(shown(trace, a), shown(trace, b)).numpy()[0, 0]
    np.testing.assert_allclose(decode(widget.comparison["values"]), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(widget.map.numpy()[0, 0], expected, rtol=1e-5, atol=1e-7)
    assert widget.comparison["token"] == a and widget.comparison["compare_token"] == b
    assert expected.min() < 0 < expected.max()
    # Both maps go through the same pipeline; a new selected token is compared with the same second token.
    widget.pipeline = T.normalize()
    widget.token = trace.text_positions[3]
    expected = difference(shown(trace, widget.token, T.normalize()), shown(trace, b, T.normalize())).numpy()[0, 0]
    np.testing.assert_allclose(decode(widget.comparison["values"]), expected, rtol=1e-5, atol=1e-7)
    widget.compare_token = None
    assert widget.comparison == {}
    with pytest.raises(TraitError, match="cannot be mapped"):
        widget.compare_token = 1


def test_compare_follows_the_selected_heads(trace: Trace) -> None:
    a, b = trace.text_positions[-1], trace.text_positions[1]
    widget = make(trace, token=a)
    widget.compare_token = b
    widget.heads = [[1, 0], [2, 1]]

    def heads_of(position: int) -> SaliencyMap:
        values = trace.map(AbsoluteIndex(position)).tensor()
        return SaliencyMap(torch.stack([values[1, 0], values[2, 1]]).mean(0)[None, None])

    expected = difference(heads_of(a), heads_of(b)).numpy()[0, 0]
    np.testing.assert_allclose(decode(widget.comparison["values"]), expected, rtol=1e-5, atol=1e-7)


def test_a_head_ranking_sends_its_top_heads_and_frequencies(trace: Trace) -> None:
    ranking = rank_localization_heads(trace.map(AbsoluteIndex(p)) for p in trace.text_positions)
    widget = make(trace, head_ranking=ranking)
    assert widget.head_ranking["top"] == [list(pair) for pair in ranking.top(5)]
    # exact: the same frequencies as float32 bytes and back
    np.testing.assert_array_equal(decode(widget.head_ranking["frequencies"]), ranking.frequencies().numpy())
    assert widget.head_ranking["samples"] == ranking.samples
    assert make(trace).head_ranking == {}
    with pytest.raises(TypeError, match="HeadRanking"):
        make(trace, head_ranking=[(0, 1)])
