"""The bad-input matrix: misuses a user can plausibly make, one row each, with the error that must answer.

Add a row to extend it. Captures that go wrong (batch > 1, answers that do not extend the prompt, no image,
token counts that do not match the grid, ...) have their rows in ``tests/core/test_errors.py``; trace files in
``tests/core/test_storage.py``; memory options in ``tests/core/test_memory_options.py``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from traitlets import TraitError

from vl_saliency_widget import SaliencyExtractor, SaliencyMap, Trace
from vl_saliency_widget import transforms as T
from vl_saliency_widget.selectors import AbsoluteIndex, IndexFromEnd, ReSelector
from vl_saliency_widget.testing import tiny_image, tiny_inputs, tiny_vlm
from vl_saliency_widget.widget import SaliencyWidget

from .widget.synthetic import synthetic_trace

MAP = SaliencyMap(torch.rand(2, 3, 4, 5))


def _with(value: float) -> SaliencyMap:
    """MAP with one cell of layer 1 set to ``value``."""
    values = MAP.tensor()
    values[1, 0, 2, 3] = value
    return SaliencyMap(values)


def _overflowing_capture(dtype: torch.dtype) -> Trace:
    """A tiny Qwen2-VL whose layer 1 attention scores reach about 1e6: past float16's 65504, within bfloat16's range."""
    model, processor = tiny_vlm("qwen2_vl")
    model = model.to(dtype)
    attention = model.model.language_model.layers[1].self_attn
    with torch.no_grad():
        attention.q_proj.weight.mul_(1e2)
        attention.k_proj.weight.mul_(1e4)
    image = tiny_image()
    inputs = {
        k: v.to(dtype) if v.is_floating_point() else v
        for k, v in tiny_inputs("qwen2_vl", processor, images=[image]).items()
    }
    return SaliencyExtractor(model, processor, gradients="sequence").capture(**inputs, images=[image])


def _capture_as_error(dtype: torch.dtype) -> Trace:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return _overflowing_capture(dtype)


# (what the user did, the call, the exception, a pattern its message must match)
MATRIX: list[tuple[str, Callable[[Trace], Any], type[Exception], str]] = [
    ("a 3D tensor as a map", lambda t: SaliencyMap(torch.rand(3, 4, 5)), ValueError, r"4 dimensions|\[layers, heads"),
    ("a list as a map", lambda t: SaliencyMap([[1.0]]), TypeError, r"tensor"),
    ("writing into a map", lambda t: setattr(MAP, "map", torch.zeros(1)), AttributeError, r"immutable"),
    ("an in-place torch op on a map", lambda t: torch.relu_(MAP), TypeError, r"immutable"),
    ("a torch function outside the whitelist", lambda t: torch.fft.fft(MAP), NotImplementedError, r"tensor\(\)"),
    ("adding maps of different shapes", lambda t: MAP + SaliencyMap(torch.rand(1, 1, 4, 5)), ValueError, r"shape"),
    ("plotting before aggregating", lambda t: MAP.plot(show=False), ValueError, r"agg"),
    ("an unknown reduction", lambda t: MAP.agg("median"), ValueError, r"median"),
    ("a pipeline step that returns a tensor", lambda t: MAP >> (lambda m: m.tensor()), TypeError, r"Tensor"),
    ("a layer index past the map", lambda t: MAP >> T.SelectLayers(5), IndexError, r"shape"),
    ("a head pair past the map", lambda t: MAP >> T.SelectHeads((0, 9)), IndexError, r"shape"),
    ("more layers than the map has", lambda t: MAP >> T.LastNLayers(3), IndexError, r"layers"),
    ("a negative smoothing sigma", lambda t: T.GaussianSmoothing(-1.0), ValueError, r"sigma"),
    ("an unknown upscale mode", lambda t: T.Upscale(8, 8, mode="cubic"), ValueError, r"mode"),
    ("a binarize threshold that is not a number", lambda t: T.Binarize("median"), ValueError, r"threshold"),
    ("a negative absolute position", lambda t: t.map(AbsoluteIndex(-1)), ValueError, r">= 0"),
    ("an offset of 0 from the end", lambda t: t.map(IndexFromEnd(0)), ValueError, r"offset"),
    ("a pattern no token matches", lambda t: t.map(ReSelector("zebra-crossing")), ValueError, r"zebra-crossing"),
    ("a generated index past the answer", lambda t: t.map(t.total_generated_tokens), IndexError, r"generated tokens"),
    ("a float as token", lambda t: t.map(1.5), TypeError, r"int or a Selector"),
    ("an image the prompt does not have", lambda t: t.map(0, image_index=3), IndexError, r"image"),
    ("a view the image does not have", lambda t: t.map(0, view="tile r9c9"), ValueError, r"views are"),
    ("gradients from an attention-only trace", lambda t: t.map(0, "grad"), ValueError, r"store_grads=True"),
    ("a mode name with a typo", lambda t: t.map(0, "atn"), ValueError, r"Unknown mode"),
    ("a method that returns a tensor", lambda t: t.maps([t.gen_start], "gradcam"), ValueError, r"map\(\)"),
    ("positions past the sequence", lambda t: t.maps([10_000]), IndexError, r"outside the sequence"),
    # Non-finite values: a half-precision model that overflowed (see test_a_float16_overflow_is_reported below).
    ("normalising a map holding NaN", lambda t: T.normalize(_with(float("nan"))), ValueError, r"1 NaN.*layers \[1\]"),
    ("normalising a map holding inf", lambda t: _with(float("inf")) >> T.Normalize(), ValueError, r"1 infinite"),
    ("a float16 model that overflows", lambda t: _capture_as_error(torch.float16), RuntimeWarning, r"\[1\].*bfloat16"),
]


@pytest.mark.parametrize(("misuse", "call", "error", "message"), MATRIX, ids=[row[0] for row in MATRIX])
def test_misuse_gets_a_clear_error(
    qwen_trace: Trace, misuse: str, call: Callable[[Trace], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call(qwen_trace)


def test_a_constant_map_normalises_to_finite_zeros() -> None:
    flat = SaliencyMap(torch.full((1, 1, 3, 3), 0.25))
    out = T.normalize(flat).tensor()
    assert torch.isfinite(out).all() and (out == 0).all()


def test_a_float16_overflow_is_reported_and_its_maps_never_pass_for_finite() -> None:
    with pytest.warns(RuntimeWarning, match=r"attention .* layers \[1\]") as caught:
        trace = _overflowing_capture(torch.float16)
    # The layers' outputs come from fused SDPA, which did not overflow here: only the kept attention is reported.
    assert all("layers [1]" in str(w.message) for w in caught if issubclass(w.category, RuntimeWarning))
    assert trace.attn is not None and torch.isfinite(trace.attn[0]).all() and not torch.isfinite(trace.attn[1]).all()
    token = trace.text_positions[-1] - trace.gen_start
    finite_layer = trace.map(token) >> T.SelectLayers(0) >> T.normalize()
    assert torch.isfinite(finite_layer.tensor()).all()
    with pytest.raises(ValueError, match=r"NaN.*bfloat16 or float32"):
        trace.map(token).agg() >> T.normalize()
    # The advice holds: the same weights in bfloat16 capture without a warning, every value finite.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        bfloat16 = _overflowing_capture(torch.bfloat16)
    assert bfloat16.attn is not None and torch.isfinite(bfloat16.attn).all()


# -- the widget: misuses refused when the widget is made, each with the fix --------------------------------------

WIDGET_MATRIX: list[tuple[str, Callable[[Trace], Any], type[Exception], str]] = [
    ("a map instead of a trace", lambda t: SaliencyWidget(t.map(0)), TypeError, r"takes the Trace .* not SaliencyMap"),
    ("a file path as the picture", lambda t: SaliencyWidget(t, image="cat.png"), TypeError, r"PIL\.Image\.open"),
    ("an array as the picture", lambda t: SaliencyWidget(t, image=np.zeros((4, 4, 3))), TypeError, r"fromarray"),
    ("arrays as the pictures", lambda t: SaliencyWidget(t, image=[np.zeros((4, 4, 3))]), TypeError, r"ndarray"),
    (
        "two pictures for a one-image prompt",
        lambda t: SaliencyWidget(t, image=[tiny_image(), tiny_image()]),
        ValueError,
        r"Got 2 picture\(s\) for a trace of 1 image\(s\): pass one picture per image",
    ),
    ("a pipeline that is not callable", lambda t: SaliencyWidget(t, pipeline="normalize"), TraitError, r"T\.normalize"),
    ("a method that is not callable", lambda t: SaliencyWidget(t, methods={"mine": 3}), TypeError, r"fn\(attn, grad\)"),
    ("a mode that is neither", lambda t: SaliencyWidget(t, mode=3), TypeError, r"mode is int"),
    (
        "a gradient method on an attention-only trace",
        lambda t: SaliencyWidget(t, mode="grad"),
        TraitError,
        r"Unknown method 'grad'.*store_grads=True",
    ),
    (
        "an attention method on a trace without attention",
        lambda t: SaliencyWidget(synthetic_trace(["a", "b", "c"], attn=False), mode="attn"),
        TraitError,
        r"Unknown method 'attn'.*holds grad.*store_attns=True",
    ),
    (
        "an image token as the first selection",
        lambda t: SaliencyWidget(t, token=t.image_mask.index(True)),
        TraitError,
        r"cannot be mapped: choose one of trace\.text_positions",
    ),
    ("an image the prompt does not have", lambda t: SaliencyWidget(t, image_index=3), TraitError, r"must be in 0\.\.0"),
    ("a colormap the widget does not have", lambda t: SaliencyWidget(t, colormap="jet"), TraitError, r"inferno"),
    ("an opacity above 1", lambda t: SaliencyWidget(t, opacity=2.0), TraitError, r"opacity"),
]


@pytest.mark.parametrize(("misuse", "call", "error", "message"), WIDGET_MATRIX, ids=[row[0] for row in WIDGET_MATRIX])
def test_widget_misuse_gets_a_clear_error(
    qwen_trace: Trace, misuse: str, call: Callable[[Trace], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call(qwen_trace)


# -- the widget: misuses once it runs, shown in its error banner; the next selection works again -----------------


def _select(widget: SaliencyWidget, token: Any, request: Any = 1) -> None:
    """What the view sends when a token is clicked."""
    widget._on_message(widget, {"type": "select", "id": request, "token": token}, [])


def _broken(smap: SaliencyMap) -> SaliencyMap:
    raise ValueError("threshold must be positive")


WIDGET_SHOWN: list[tuple[str, Callable[[SaliencyWidget], Any], str]] = [
    ("a pipeline that returns a tensor", lambda w: setattr(w, "pipeline", lambda m: m.tensor()), r"Tensor"),
    ("a pipeline that raises", lambda w: setattr(w, "pipeline", _broken), r"ValueError: threshold must be positive"),
    ("a token index past the sequence from the view", lambda w: _select(w, 10_000), r"10000 cannot be mapped"),
    ("a token index as text from the view", lambda w: _select(w, "3"), r"token '3' .* not integers"),
    ("a request without an id from the view", lambda w: _select(w, w.token, None), r"request id None"),
    ("a message the widget does not know", lambda w: w._on_message(w, {"type": "zoom"}, []), r"out of step"),
    ("a message that is not an object", lambda w: w._on_message(w, ["select"], []), r"out of step"),
]


@pytest.mark.parametrize(("misuse", "act", "message"), WIDGET_SHOWN, ids=[row[0] for row in WIDGET_SHOWN])
def test_widget_shows_a_misuse_and_stays_usable(
    qwen_trace: Trace, misuse: str, act: Callable[[SaliencyWidget], Any], message: str
) -> None:
    widget = SaliencyWidget(qwen_trace)
    sent: list[dict[str, Any]] = []
    widget.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    act(widget)
    assert re.search(message, widget.error), widget.error
    widget.pipeline = None
    target = next(p for p in reversed(qwen_trace.text_positions) if p != widget.token)
    _select(widget, target, 9)
    assert widget.error == "" and widget.token == target
    assert sent[-1]["id"] == 9 and "error" not in sent[-1]
