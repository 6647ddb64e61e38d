"""What the widget's method menu offers and says: previews ready from a method's declared needs, the error for a
method the trace cannot run, and the traits' documentation."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from traitlets import TraitError

from vl_saliency_widget import SaliencyExtractor, Trace, lib
from vl_saliency_widget.selectors import AbsoluteIndex
from vl_saliency_widget.testing import tiny_image, tiny_inputs, tiny_vlm
from vl_saliency_widget.widget import SaliencyWidget

from .synthetic import synthetic_trace


@pytest.fixture(scope="module")
def rollout_trace() -> Trace:
    """Per-token gradients (the default), and every layer's whole attention for lib.rollout."""
    model, processor = tiny_vlm("qwen2_vl")
    image = tiny_image()
    extractor = SaliencyExtractor(model, processor, methods=[lib.rollout])
    return extractor.capture(**tiny_inputs("qwen2_vl", processor, images=[image]), images=[image])


def make(trace: Trace, sent: list[dict[str, Any]] | None = None, **kwargs: Any) -> SaliencyWidget:
    """A widget whose messages to the view go to ``sent``."""
    widget = SaliencyWidget(trace, **kwargs)
    log = [] if sent is None else sent
    widget.send = lambda content, buffers=None: log.append(content)  # type: ignore[method-assign]
    return widget


def decode(spec: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(spec["data"], dtype=spec["dtype"]).reshape(spec["shape"])


def test_rollout_previews_every_token_at_once_and_gradient_methods_only_what_is_computed(rollout_trace: Trace) -> None:
    trace = rollout_trace
    sent: list[dict[str, Any]] = []
    widget = make(trace, sent)
    assert trace.gradients == "token" and "rollout" in widget.methods
    selected = [int(p == widget.token) for p in trace.text_positions]
    widget.mode = "gradcam"
    assert decode(widget.previews["ready"]).tolist() == selected, "gradcam: only the selected token is computed"
    # Rollout reads attention alone: no token waits for a backward pass, every hover shows a map.
    widget.mode = "rollout"
    assert decode(widget.previews["ready"]).all()
    maps = decode(widget.previews["maps"])
    for row, position in enumerate(trace.text_positions):
        expected = trace.map(AbsoluteIndex(position), mode=lib.rollout).agg().numpy()[0, 0]
        np.testing.assert_allclose(maps[row], expected, rtol=1e-6)
    sent.clear()
    widget._on_message(widget, {"type": "select", "id": 4, "token": trace.text_positions[-1]}, [])
    assert [m["type"] for m in sent] == ["detail"], "a ready token was computed again"
    # Back on a gradient method, only the token whose gradient was computed is ready.
    widget.mode = "grad"
    ready = decode(widget.previews["ready"])
    computed = [trace.ready("grad", p) for p in trace.text_positions]
    assert ready.tolist() == [int(c) for c in computed] and 0 < ready.sum() < len(ready)


def test_a_builtin_method_missing_from_the_menu_says_what_its_needs_lack_and_how_to_capture_them(
    rollout_trace: Trace,
) -> None:
    widget = make(rollout_trace)
    assert "agcam" not in widget.methods
    with pytest.raises(TraitError) as refused:
        widget.mode = "agcam"
    message = str(refused.value)
    assert "lib.agcam needs pre-softmax scores" in message
    assert "SaliencyExtractor(model, processor, methods=[lib.agcam])" in message
    assert "store_attns" not in message, "agcam's scores do not come from store_attns/store_grads"
    with pytest.raises(TraitError, match=r"'attn' needs attention \(store_attns=True\)"):
        make(synthetic_trace(["a", "b", "c"], attn=False), mode="attn")
    with pytest.raises(TraitError, match=r"Unknown method 'nope': choose one of .*lib\.agcam") as unknown:
        widget.mode = "nope"
    assert "store_grads" not in str(unknown.value)


def test_every_trait_is_documented_and_the_docstring_names_the_synced_ones() -> None:
    own = SaliencyWidget.class_own_traits()
    assert all(trait.help for trait in own.values()), [name for name, trait in own.items() if not trait.help]
    doc = SaliencyWidget.__doc__ or ""
    found = re.search(r"Synced with the view: (.*?)\. In Python only: (.*?)\.", doc, re.S)
    assert found, "the class docstring no longer lists the synced traits"
    synced, python_only = found.groups()
    assert set(re.findall(r"``(\w+)``", synced)) == set(SaliencyWidget.class_own_traits(sync=True))
    assert set(re.findall(r"``(\w+)``", python_only)) == set(own) - set(SaliencyWidget.class_own_traits(sync=True))
