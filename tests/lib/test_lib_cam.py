"""CAM methods combine attention and gradient maps elementwise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vl_saliency_widget.core.map import SaliencyMap
from vl_saliency_widget.lib import agcam_reference, gradcam
from vl_saliency_widget.transforms import TraceTransform


@pytest.fixture
def pair() -> tuple[SaliencyMap, SaliencyMap]:
    generator = torch.Generator().manual_seed(6)
    return SaliencyMap(torch.rand(2, 3, 4, 4, generator=generator)), SaliencyMap(
        torch.randn(2, 3, 4, 4, generator=generator)
    )


def test_gradcam_is_positive_gradient_times_attention(pair: tuple[SaliencyMap, SaliencyMap]) -> None:
    attn, grad = pair
    a, g = attn.numpy(), grad.numpy()
    np.testing.assert_allclose(gradcam(attn, grad).numpy(), np.where(g > 0, g, 0) * a, rtol=1e-6)


def test_reference_agcam_is_positive_gradient_times_sigmoid_attention(pair: tuple[SaliencyMap, SaliencyMap]) -> None:
    attn, grad = pair
    a, g = attn.numpy().astype(np.float64), grad.numpy().astype(np.float64)
    np.testing.assert_allclose(agcam_reference(attn, grad).numpy(), np.maximum(g, 0) / (1 + np.exp(-a)), rtol=1e-6)


def test_methods_are_trace_transforms_and_keep_inputs(pair: tuple[SaliencyMap, SaliencyMap]) -> None:
    attn, grad = pair
    before = attn.tensor(), grad.tensor()
    for method in (gradcam, agcam_reference):
        assert isinstance(method, TraceTransform)
        assert method(attn, grad).shape == (2, 3, 4, 4)
    assert torch.equal(attn.map, before[0]) and torch.equal(grad.map, before[1])  # exact: inputs never written


def test_methods_need_maps_of_one_shape(pair: tuple[SaliencyMap, SaliencyMap]) -> None:
    attn, grad = pair
    with pytest.raises(ValueError, match="shapes differ"):
        gradcam(attn, grad.agg())
