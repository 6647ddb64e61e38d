"""SaliencyMap's own promises under hypothesis: nothing it hands out reaches its scores, and its operators are
the tensor operations they stand for."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vl_saliency_widget import SaliencyMap

from .strategies import maps

EXAMPLES = settings(max_examples=40)


@EXAMPLES
@given(maps())
def test_nothing_the_map_hands_out_reaches_its_scores(source: torch.Tensor) -> None:
    saliency_map = SaliencyMap(source)
    kept = source.clone()
    source.add_(1)  # the caller's tensor is theirs
    saliency_map.map.zero_()
    saliency_map.tensor().fill_(7)
    if source.dtype != torch.bfloat16:
        array = saliency_map.numpy()
        array[...] = 3
        np.copyto(array, 5)
    assert torch.equal(saliency_map.tensor(), kept)  # exact, here and below: copies, no arithmetic
    with pytest.raises(TypeError, match="immutable"):
        torch.relu_(saliency_map)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="immutable"):
        torch.add(saliency_map, 1, out=torch.empty(0))  # type: ignore[arg-type]
    with pytest.raises(AttributeError, match="immutable"):
        saliency_map.map += 1  # type: ignore[misc]
    assert torch.equal(saliency_map.tensor(), kept)


@EXAMPLES
@given(maps(kinds=("normal", "constant", "zeros")), st.floats(-4, 4).filter(lambda x: abs(x) > 0.25))
def test_arithmetic_is_the_tensor_arithmetic(source: torch.Tensor, scalar: float) -> None:
    saliency_map, other = SaliencyMap(source), SaliencyMap(source.flip(-1))
    before = saliency_map.tensor()
    for result, expected in (
        (saliency_map + scalar, source + scalar),
        (scalar - saliency_map, scalar - source),
        (saliency_map * scalar, source * scalar),
        (saliency_map / scalar, source / scalar),
        (saliency_map - other, source - source.flip(-1)),
        (saliency_map * other, source * source.flip(-1)),
        (torch.clamp(saliency_map, -1, 1), source.clamp(-1, 1)),  # type: ignore[call-overload]
        (torch.maximum(saliency_map, other), torch.maximum(source, source.flip(-1))),  # type: ignore[call-overload]
    ):
        assert isinstance(result, SaliencyMap)
        assert torch.equal(result.tensor(), expected)  # exact: the same torch operation on the same tensors
    assert torch.equal(saliency_map.tensor(), before)
    assert saliency_map == SaliencyMap(source) and saliency_map != source


@EXAMPLES
@given(maps(max_side=2, max_cells=3), st.integers(1, 4), st.integers(1, 4))
def test_arithmetic_with_a_map_of_another_shape_is_refused(source: torch.Tensor, layers: int, heads: int) -> None:
    saliency_map = SaliencyMap(source)
    other = SaliencyMap(torch.zeros(layers, heads, *source.shape[2:], dtype=source.dtype))
    if other.shape == saliency_map.shape:
        assert torch.equal((saliency_map + other).tensor(), source + 0)  # exact: adding zeros
    else:
        with pytest.raises(ValueError, match="shapes differ"):
            saliency_map + other
