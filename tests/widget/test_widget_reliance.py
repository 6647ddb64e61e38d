"""What the answer relies on, in the widget: the ``reliance`` and ``focus`` traits hold the core API's values (the
core is the oracle), and are empty where the trace cannot give them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.widget.synthetic import synthetic_trace
from vl_saliency_widget.selectors import AbsoluteIndex
from vl_saliency_widget.widget import SaliencyWidget
from vl_saliency_widget.widget.serialize import decode_array

WORDS = ["The", " cat", " is", " on", " the", " mat", ".", " It", " is", " black", " and", " white"]


def _close(got: dict, expected: torch.Tensor) -> None:
    assert got["dtype"] == "float32"
    np.testing.assert_allclose(decode_array(got), expected.float().numpy(), rtol=1e-6, equal_nan=True)


def test_reliance_trait_holds_trace_reliance() -> None:
    trace = synthetic_trace(WORDS, reliance=True)
    widget = SaliencyWidget(trace)
    expected = trace.reliance()
    state = widget.reliance
    _close(state["delta"], expected.delta)
    _close(state["with_image"], expected.with_image)
    _close(state["without_image"], expected.without_image)
    np.testing.assert_array_equal(decode_array(state["from_image"]), expected.from_image.numpy().astype(np.uint8))
    assert state["threshold"] == pytest.approx(expected.threshold)
    assert state["baseline"] == "blur"
    delta = decode_array(state["delta"])
    assert np.isnan(delta[: trace.gen_start]).all() and not np.isnan(delta[trace.gen_start :]).any()


def test_reliance_is_empty_without_a_model() -> None:
    trace = synthetic_trace(WORDS)
    with pytest.raises(ValueError):
        trace.perturber()
    assert SaliencyWidget(trace).reliance == {}


def test_focus_follows_the_selection_with_image_share_and_text_attribution() -> None:
    trace = synthetic_trace(WORDS, layers=3, heads=2, text_columns=True)
    widget = SaliencyWidget(trace)
    for position in (widget.token, trace.text_positions[3], len(trace.token_ids) - 1):
        widget.token = position
        focus = widget.focus
        assert focus["token"] == position
        share = trace.image_share(AbsoluteIndex(position)).mean(-1)
        _close(focus["image_share"], share)
        assert decode_array(focus["image_share"]).shape == (3,)
        assert ((share >= 0) & (share <= 1)).all()
        assert focus["layer_labels"] == [0, 1, 2]
        _close(focus["attribution"], trace.text_attribution(AbsoluteIndex(position), "attn"))


def test_focus_leaves_out_attribution_without_text_columns() -> None:
    trace = synthetic_trace(WORDS)
    widget = SaliencyWidget(trace)
    assert "attribution" not in widget.focus
    with pytest.raises(ValueError):
        trace.text_attribution(AbsoluteIndex(widget.token))
    _close(widget.focus["image_share"], trace.image_share(AbsoluteIndex(widget.token)).mean(-1))


def test_focus_leaves_out_image_share_for_cross_attention() -> None:
    trace = synthetic_trace(WORDS)
    trace._cross = True  # as mllama: image_share raises
    widget = SaliencyWidget(trace)
    assert "image_share" not in widget.focus
    assert widget.focus["token"] == widget.token
