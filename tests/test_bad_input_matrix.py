"""The bad-input matrix: misuses a user can plausibly make, one row each, with the error that must answer.

Add a row to extend it. Captures that go wrong (batch > 1, answers that do not extend the prompt, no image,
token counts that do not match the grid, ...) have their rows in ``tests/core/test_errors.py``; trace files in
``tests/core/test_storage.py``; memory options in ``tests/core/test_memory_options.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from vl_saliency_widget import SaliencyExtractor, SaliencyMap, Trace
from vl_saliency_widget import transforms as T
from vl_saliency_widget.selectors import AbsoluteIndex, IndexFromEnd, ReSelector
from vl_saliency_widget.testing import tiny_image, tiny_inputs, tiny_vlm


@pytest.fixture(scope="module")
def trace() -> Trace:
    model, processor = tiny_vlm("qwen2_vl")
    image = tiny_image()
    inputs = tiny_inputs("qwen2_vl", processor, images=[image])
    with torch.inference_mode():
        generated = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    return SaliencyExtractor(model, processor, store_grads=False).capture(
        **inputs, generated_ids=generated, images=[image]
    )


MAP = SaliencyMap(torch.rand(2, 3, 4, 5))

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
]


@pytest.mark.parametrize(("misuse", "call", "error", "message"), MATRIX, ids=[row[0] for row in MATRIX])
def test_misuse_gets_a_clear_error(
    trace: Trace, misuse: str, call: Callable[[Trace], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call(trace)


def test_a_constant_map_normalises_to_finite_zeros() -> None:
    flat = SaliencyMap(torch.full((1, 1, 3, 3), 0.25))
    out = T.normalize(flat).tensor()
    assert torch.isfinite(out).all() and (out == 0).all()
