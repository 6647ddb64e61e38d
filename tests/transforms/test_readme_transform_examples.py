"""The reference README's SaliencyMap, transform, pipeline and custom-transform examples, run verbatim.

Each block is the README's text with ``vl_saliency`` renamed to ``vl_saliency_widget``, executed on a random
map and image (the model examples are covered by tests/test_reference_readme.py).
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from vl_saliency_widget import SaliencyMap

AGGREGATE_AND_PLOT = """
# Aggregate the saliency map's layers and heads
saliency_map = saliency_map.agg(layer_reduce="mean", head_reduce="mean")

# Visualize the saliency map
saliency_map.plot(image, title="Saliency Map")
"""

TRANSFORMS = """
from vl_saliency_widget import transforms as T

# Example: Normalize and plot a saliency map
saliency_map = saliency_map >> T.normalize()
saliency_map.agg().plot(image, title="Normalized Saliency Map")

# Example: Binarize a saliency map, setting values below the mean to zero
saliency_map = saliency_map.apply(T.Binarize(threshold="mean"))
saliency_map.agg().plot(image, title="Binarized Saliency Map")

# Example: Apply the sigmoid function to a saliency map, then aggregate across heads and layers
saliency_map = saliency_map >> T.Sigmoid() >> T.Aggregate(layer_reduce="mean", head_reduce="mean")
saliency_map.plot(image, title="Sigmoid Saliency Map")
"""

PIPELINE = """
from vl_saliency_widget import transforms as T

pipe = (
    T.abs() >>
    T.normalize() >>
    T.Aggregate(layer_reduce="mean", head_reduce="sum")
)

# Apply the pipeline to a saliency map
saliency_map >>= pipe
saliency_map.plot(image, title="Pipeline Processed Saliency Map")

# Alternatively, you can directly create a pipeline using the constructor
pipe = T.Pipeline(
    T.abs(),
    T.normalize(),
    T.Aggregate(layer_reduce="mean", head_reduce="sum")
)

saliency_map = saliency_map.apply(pipe).plot(image, title="Pipeline Processed Saliency Map")
"""

CUSTOM_CLASS = """
from vl_saliency_widget import SaliencyMap
from vl_saliency_widget.transforms import Chainable

class MyTransform(Chainable):
    def __call__(self, saliency_map: SaliencyMap) -> SaliencyMap:
        # Custom transformation logic
        return saliency_map
"""

CUSTOM_FUNCTION = """
from vl_saliency_widget import SaliencyMap
from vl_saliency_widget.transforms import chainable

@chainable
def my_custom_transform(saliency_map: SaliencyMap) -> SaliencyMap:
    # Custom transformation logic
    return saliency_map
"""

TRACE_TRANSFORM = """
from vl_saliency_widget import SaliencyMap

def my_trace_transform(attn: SaliencyMap, grad: SaliencyMap) -> SaliencyMap:
    # Custom transformation logic using both attention and gradients
    return saliency_map

class MyTraceTransform:
    def __call__(self, attn: SaliencyMap, grad: SaliencyMap) -> SaliencyMap:
        # Custom transformation logic using both attention and gradients
        return saliency_map
"""


@pytest.fixture
def namespace() -> dict[str, Any]:
    generator = torch.Generator().manual_seed(5)
    pixels = (torch.rand(24, 32, 3, generator=generator) * 255).to(torch.uint8).numpy()
    return {
        "saliency_map": SaliencyMap(torch.randn(4, 3, 6, 8, generator=generator)),
        "image": Image.fromarray(pixels),
    }


def test_aggregate_and_plot(namespace: dict[str, Any]) -> None:
    exec(AGGREGATE_AND_PLOT, namespace)
    assert namespace["saliency_map"].shape == (1, 1, 6, 8)


def test_transform_examples(namespace: dict[str, Any]) -> None:
    start = namespace["saliency_map"]
    exec(TRANSFORMS, namespace)
    binary = (start.map - start.map.min()) / (start.map.max() - start.map.min())
    binary = (binary >= binary.mean()).float()
    expected = torch.sigmoid(binary).mean(dim=(0, 1), keepdim=True)
    torch.testing.assert_close(namespace["saliency_map"].map, expected)


def test_pipeline_examples(namespace: dict[str, Any]) -> None:
    start = namespace["saliency_map"].map
    exec(PIPELINE, namespace)
    assert isinstance(namespace["saliency_map"], Figure)  # the README assigns plot()'s return value
    once = start.abs()
    once = ((once - once.min()) / (once.max() - once.min())).mean(0, keepdim=True).sum(1, keepdim=True)
    pipe = namespace["pipe"]
    torch.testing.assert_close((SaliencyMap(start) >> pipe).map, once)
    assert repr(pipe) == "Pipeline(abs, normalize, Aggregate)"


def test_custom_transform_examples(namespace: dict[str, Any]) -> None:
    exec(CUSTOM_CLASS, namespace)
    exec(CUSTOM_FUNCTION, namespace)
    m = namespace["saliency_map"]
    pipe = namespace["MyTransform"]() >> namespace["my_custom_transform"]()
    assert (m >> pipe) == m
    assert namespace["my_custom_transform"](m) == m


def test_trace_transform_examples(namespace: dict[str, Any]) -> None:
    from vl_saliency_widget.transforms import TraceTransform

    exec(TRACE_TRANSFORM, namespace)
    m = namespace["saliency_map"]
    for method in (namespace["my_trace_transform"], namespace["MyTraceTransform"]()):
        assert isinstance(method, TraceTransform)
        assert method(m, m) is m


def test_plot_examples_return_figures_with_the_readme_titles(namespace: dict[str, Any]) -> None:
    m = namespace["saliency_map"]
    image = namespace["image"]
    fig = m.agg().plot(image, title="Gradient-based Saliency Map")
    assert fig.axes[0].get_title() == "Gradient-based Saliency Map"
    assert np.asarray(fig.axes[0].get_images()[0].get_array()).shape == (24, 32, 3)
