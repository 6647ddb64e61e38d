"""Hypothesis strategies: saliency maps of every dtype and magnitude, and the transforms to apply to them."""

from __future__ import annotations

from collections.abc import Callable

import torch
from hypothesis import strategies as st

from vl_saliency_widget import transforms as T
from vl_saliency_widget.transforms import Transform

DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

# The largest magnitude drawn per dtype: the dtype's own limit, except float64, the dtype the transforms fall
# back to when a narrower one overflows; it has no wider one, so it is drawn well inside its range.
TOP = {dtype: torch.finfo(dtype).max for dtype in DTYPES[:3]} | {torch.float64: 1e30}

KINDS = ("normal", "constant", "zeros", "huge", "tiny", "extremes")


def top(dtype: torch.dtype) -> float:
    """The largest magnitude ``maps`` draws for ``dtype``."""
    return float(TOP[dtype])


@st.composite
def maps(draw: st.DrawFn, max_side: int = 3, max_cells: int = 5, kinds: tuple[str, ...] = KINDS) -> torch.Tensor:
    """A finite tensor [layers, heads, h, w] to make a map of: random, constant, all zeros, spread up to the
    dtype's largest value, down in its subnormals, or made of extremes (+-largest, 0, +-smallest normal)."""
    dtype = draw(st.sampled_from(DTYPES))
    shape = (
        draw(st.integers(1, max_side)),
        draw(st.integers(1, max_side)),
        draw(st.integers(1, max_cells)),
        draw(st.integers(1, max_cells)),
    )
    kind = draw(st.sampled_from(kinds))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**32 - 1)))
    info, limit = torch.finfo(dtype), top(dtype)
    if kind == "constant":
        values = torch.full(shape, draw(st.floats(-limit, limit, allow_nan=False)), dtype=torch.float64)
    elif kind == "zeros":
        values = torch.zeros(shape, dtype=torch.float64)
    elif kind == "normal":
        values = torch.randn(shape, generator=generator, dtype=torch.float64)
    elif kind == "huge":
        values = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * limit
    elif kind == "tiny":
        values = torch.randn(shape, generator=generator, dtype=torch.float64) * info.smallest_normal
    else:
        choices = torch.tensor([-limit, limit, 0.0, info.smallest_normal, -info.smallest_normal], dtype=torch.float64)
        values = choices[torch.randint(0, len(choices), shape, generator=generator)]
    tensor = values.to(dtype)
    assert torch.isfinite(tensor).all()
    return tensor


Shape = tuple[int, ...]
ShapeRule = Callable[[Shape], Shape]
# One of each transform valid on every map, for tests that go through all of them.
EVERY_TRANSFORM: tuple[Transform, ...] = (
    T.abs(),
    T.relu(),
    T.sigmoid(),
    T.normalize(),
    T.Binarize(),
    T.Binarize(0.5),
    T.GaussianSmoothing(1.0),
    T.Aggregate("mean", "mean"),
    T.Aggregate("sum", "sum"),
    T.Aggregate("prod", None),
    T.Aggregate("max", "min"),
    *(T.Upscale(7, 5, mode) for mode in ("nearest", "nearest-exact", "bilinear", "bicubic", "area")),
    T.FirstNLayers(1),
    T.LastNLayers(1),
)

ELEMENTWISE = ("abs", "relu", "sigmoid", "normalize", "Abs", "ReLU", "Sigmoid", "Normalize")


def _same(shape: Shape) -> Shape:
    return shape


@st.composite
def any_shape_transforms(draw: st.DrawFn) -> tuple[Transform, ShapeRule]:
    """A transform valid on every map, with its docstring's rule: input shape [L, H, h, w] -> output shape."""
    choice = draw(st.sampled_from((*ELEMENTWISE, "binarize", "smooth", "agg", "upscale", "first", "last")))
    if choice in ELEMENTWISE:
        return getattr(T, choice)(), _same
    if choice == "binarize":
        return T.Binarize(draw(st.one_of(st.just("mean"), st.floats(-2, 2)))), _same
    if choice == "smooth":
        return T.GaussianSmoothing(draw(st.sampled_from([0.0, 0.5, 1.0, 2.0]))), _same
    if choice == "agg":
        layer = draw(st.sampled_from([None, "mean", "sum", "max", "min", "prod"]))
        head = draw(st.sampled_from([None, "mean", "sum", "max", "min", "prod"]))
        return T.Aggregate(layer, head), lambda s: (1 if layer else s[0], 1 if head else s[1], s[2], s[3])
    if choice == "upscale":
        height, width = draw(st.integers(1, 9)), draw(st.integers(1, 9))
        mode = draw(st.sampled_from(["nearest", "nearest-exact", "bilinear", "bicubic", "area"]))
        return T.Upscale(height, width, mode), lambda s: (s[0], s[1], height, width)
    layers = T.FirstNLayers(1) if choice == "first" else T.LastNLayers(1)
    return layers, lambda s: (1, s[1], s[2], s[3])
