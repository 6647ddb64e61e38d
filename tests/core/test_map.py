"""SaliencyMap: construction, immutability, aggregation, arithmetic, torch interop, plotting."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from vl_saliency_widget.core.map import SaliencyMap


@pytest.fixture
def source() -> torch.Tensor:
    return torch.rand(3, 4, 5, 6, generator=torch.Generator().manual_seed(0))


# Construction


def test_rejects_non_4d_tensors_with_shape_and_remedy() -> None:
    with pytest.raises(ValueError, match=r"\[5, 6\].*tensor\[None, None\]"):
        SaliencyMap(torch.rand(5, 6))


def test_rejects_non_tensors() -> None:
    with pytest.raises(TypeError, match=r"torch\.as_tensor"):
        SaliencyMap(np.zeros((1, 1, 2, 2)))  # type: ignore[arg-type]


def test_stores_a_detached_copy_so_the_source_can_change(source: torch.Tensor) -> None:
    leaf = source.clone().requires_grad_(True)
    m = SaliencyMap(leaf)
    before = source.clone()
    with torch.no_grad():
        leaf.add_(100.0)
    assert torch.equal(m.map, before)  # exact: a copy
    assert not m.map.requires_grad
    assert m.map.device.type == "cpu"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_keeps_float_dtypes(dtype: torch.dtype) -> None:
    assert SaliencyMap(torch.zeros(1, 1, 2, 2, dtype=dtype)).map.dtype == dtype


def test_converts_integer_and_bool_tensors_to_float() -> None:
    assert SaliencyMap(torch.ones(1, 1, 2, 2, dtype=torch.int64)).map.dtype == torch.float32
    assert SaliencyMap(torch.ones(1, 1, 2, 2, dtype=torch.bool)).map.dtype == torch.float32


def test_attributes_cannot_be_set_or_deleted(source: torch.Tensor) -> None:
    m = SaliencyMap(source)
    with pytest.raises(AttributeError, match="immutable"):
        m.map = torch.zeros(1, 1, 1, 1)  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        m.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="immutable"):
        del m.map  # type: ignore[misc]


def test_tensor_and_numpy_return_copies(source: torch.Tensor) -> None:
    m = SaliencyMap(source)
    m.tensor().zero_()
    m.numpy()[...] = 0
    assert torch.equal(m.map, source)  # exact, and the next: copies
    np.testing.assert_array_equal(m.numpy(), source.numpy())


def test_numpy_of_bfloat16_is_float32() -> None:
    m = SaliencyMap(torch.full((1, 1, 2, 2), 0.5, dtype=torch.bfloat16))
    assert m.numpy().dtype == np.float32
    np.testing.assert_array_equal(m.numpy(), np.full((1, 1, 2, 2), 0.5, dtype=np.float32))  # exact: 0.5 in both dtypes


def test_save_writes_the_tensor_for_torch_load(source: torch.Tensor, tmp_path: Path) -> None:
    path = tmp_path / "map.pt"
    SaliencyMap(source).save(path)
    assert torch.equal(torch.load(path), source)  # exact: a round trip through the file


def test_shape_and_repr(source: torch.Tensor) -> None:
    m = SaliencyMap(torch.tensor([[[[-1.5, 2.25]]]]))
    assert m.shape == torch.Size([1, 1, 1, 2])
    assert repr(m) == "SaliencyMap(shape=[1, 1, 1, 2], dtype=float32, range=[-1.5, 2.25])"
    assert "range=empty" in repr(SaliencyMap(torch.zeros(0, 1, 2, 2)))


def test_equality_is_by_value(source: torch.Tensor) -> None:
    assert SaliencyMap(source) == SaliencyMap(source.clone())
    assert SaliencyMap(source) != SaliencyMap(source + 1)
    assert (SaliencyMap(source) == source) is False
    assert (SaliencyMap(source) != source) is True
    with pytest.raises(TypeError, match="unhashable"):
        hash(SaliencyMap(source))


def test_pickle_round_trip(source: torch.Tensor) -> None:
    assert pickle.loads(pickle.dumps(SaliencyMap(source))) == SaliencyMap(source)


# Aggregation


@pytest.mark.parametrize(
    ("name", "reduce"),
    [
        ("mean", lambda t, d: t.mean(d, keepdim=True)),
        ("sum", lambda t, d: t.sum(d, keepdim=True)),
        ("max", lambda t, d: t.max(d, keepdim=True).values),
        ("min", lambda t, d: t.min(d, keepdim=True).values),
        ("prod", lambda t, d: t.prod(d, keepdim=True)),
    ],
)
def test_agg_matches_explicit_reductions(
    source: torch.Tensor, name: str, reduce: Callable[[torch.Tensor, int], torch.Tensor]
) -> None:
    m = SaliencyMap(source)
    torch.testing.assert_close(m.agg(name, name).map, reduce(reduce(source, 0), 1))
    torch.testing.assert_close(m.agg(name, None).map, reduce(source, 0))
    torch.testing.assert_close(m.agg(None, name).map, reduce(source, 1))
    assert m.agg(None, None) == m


def test_agg_defaults_to_mean_over_layers_and_heads(source: torch.Tensor) -> None:
    torch.testing.assert_close(SaliencyMap(source).agg().map, source.mean(dim=(0, 1), keepdim=True))


def test_agg_rejects_unknown_reduction_listing_options(source: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"'median'.*\['max', 'mean', 'min', 'prod', 'sum'\]"):
        SaliencyMap(source).agg(layer_reduce="median")  # type: ignore[arg-type]


# Transforms


def test_apply_and_rshift_return_new_maps_and_leave_the_source_alone(source: torch.Tensor) -> None:
    m = SaliencyMap(source)
    original = m
    doubled = m.apply(lambda x: x * 2)
    assert doubled is not m
    torch.testing.assert_close(doubled.map, source * 2)
    m >>= lambda x: x + 1
    torch.testing.assert_close(m.map, source + 1)
    assert torch.equal(original.map, source)  # exact: never written


def test_a_transform_returning_a_tensor_is_a_type_error_naming_it(source: torch.Tensor) -> None:
    def to_tensor(saliency_map: SaliencyMap) -> torch.Tensor:
        return saliency_map.map

    with pytest.raises(TypeError, match="'to_tensor' returned Tensor"):
        SaliencyMap(source) >> to_tensor  # type: ignore[operator]


def test_rshift_with_a_non_callable_is_a_type_error(source: torch.Tensor) -> None:
    with pytest.raises(TypeError):
        SaliencyMap(source) >> 3  # type: ignore[operator]


# Arithmetic


def test_arithmetic_between_maps(source: torch.Tensor) -> None:
    a, b = SaliencyMap(source), SaliencyMap(source.flip(-1) + 1)
    torch.testing.assert_close((a + b).map, source + (source.flip(-1) + 1))
    torch.testing.assert_close((a - b).map, source - (source.flip(-1) + 1))
    torch.testing.assert_close((a * b).map, source * (source.flip(-1) + 1))
    torch.testing.assert_close((a / b).map, source / (source.flip(-1) + 1))


def test_arithmetic_with_scalars_on_either_side(source: torch.Tensor) -> None:
    m = SaliencyMap(source + 1)
    t = source + 1
    torch.testing.assert_close((m + 2).map, t + 2)
    torch.testing.assert_close((2 + m).map, 2 + t)
    torch.testing.assert_close((m - 0.5).map, t - 0.5)
    torch.testing.assert_close((3 - m).map, 3 - t)
    torch.testing.assert_close((m * 4).map, t * 4)
    torch.testing.assert_close((4 * m).map, 4 * t)
    torch.testing.assert_close((m / 2).map, t / 2)
    torch.testing.assert_close((1 / m).map, 1 / t)
    torch.testing.assert_close((m * np.float32(2.0)).map, t * 2)


def test_arithmetic_broadcasts_tensors_on_either_side(source: torch.Tensor) -> None:
    m = SaliencyMap(source)
    weights = torch.arange(1.0, 7.0)  # one per column
    torch.testing.assert_close((m * weights).map, source * weights)
    torch.testing.assert_close((weights - m).map, weights - source)
    torch.testing.assert_close((m / weights).map, source / weights)
    assert isinstance(weights - m, SaliencyMap)


def test_arithmetic_shape_mismatch_names_both_shapes(source: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"\[3, 4, 5, 6\] and \[1, 1, 5, 6\]"):
        SaliencyMap(source) + SaliencyMap(source[:1, :1])


def test_arithmetic_with_unsupported_operands_is_a_type_error(source: torch.Tensor) -> None:
    with pytest.raises(TypeError):
        SaliencyMap(source) + "1"  # type: ignore[operator]


# torch functions


def test_whitelisted_torch_functions_return_maps_for_4d_results(source: torch.Tensor) -> None:
    m = SaliencyMap(source)
    clamped = torch.clamp(m, 0.2, 0.6)
    assert isinstance(clamped, SaliencyMap)
    torch.testing.assert_close(clamped.map, source.clamp(0.2, 0.6))
    chosen = torch.where(source > 0.5, m, 0.0)
    assert isinstance(chosen, SaliencyMap)
    torch.testing.assert_close(chosen.map, torch.where(source > 0.5, source, 0.0))
    highest = torch.maximum(m, SaliencyMap(1 - source))
    torch.testing.assert_close(highest.map, torch.maximum(source, 1 - source))
    assert isinstance(F.relu(m - 0.5), SaliencyMap)
    torch.testing.assert_close(torch.pow(m, 2).map, source**2)


def test_torch_reductions_to_fewer_dims_return_tensors(source: torch.Tensor) -> None:
    m = SaliencyMap(source)
    total = torch.sum(m)
    assert type(total) is torch.Tensor
    torch.testing.assert_close(total, source.sum())
    per_head = torch.mean(m, dim=(2, 3))
    assert type(per_head) is torch.Tensor and per_head.shape == (3, 4)
    assert torch.equal(m, SaliencyMap(source)) is True  # exact: two copies of the same tensor


@pytest.mark.parametrize(
    "call",
    [
        lambda m: torch.relu_(m),
        lambda m: torch.sigmoid_(m),
        lambda m: torch.add(m, 1, out=torch.empty(3, 4, 5, 6)),
        lambda m: F.relu(m, inplace=True),
    ],
    ids=["relu_", "sigmoid_", "out=", "inplace=True"],
)
def test_in_place_torch_calls_are_refused(source: torch.Tensor, call: Callable[[SaliencyMap], object]) -> None:
    m = SaliencyMap(source)
    with pytest.raises(TypeError, match="SaliencyMap is immutable"):
        call(m)
    assert torch.equal(m.map, source)  # exact: never written


def test_other_torch_functions_say_which_and_to_use_tensor(source: torch.Tensor) -> None:
    with pytest.raises(NotImplementedError, match=r"'matmul'.*\.tensor\(\)"):
        torch.matmul(SaliencyMap(source), SaliencyMap(source))


# Plotting


def test_plot_needs_a_single_layer_and_head(source: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"\[3, 4, 5, 6\].*\.agg\(\)"):
        SaliencyMap(source).plot(show=False)


def test_plot_shows_on_agg_without_failing_or_leaking_figures(source: torch.Tensor) -> None:
    plt.close("all")
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    with np.errstate(all="raise"):
        fig = SaliencyMap(source).agg().plot(image, title="Mean map", cmap="viridis")
    assert isinstance(fig, Figure)
    assert plt.get_fignums() == []
    ax = fig.axes[0]
    assert ax.get_title() == "Mean map"
    heat = ax.get_images()[-1]
    assert heat.get_array().shape == (20, 30)
    assert heat.get_cmap().name == "viridis"
    assert len(fig.axes) == 2  # the colorbar


def test_plot_without_colorbar_or_show(source: torch.Tensor) -> None:
    fig = SaliencyMap(source[:1, :1]).plot(show=False, colorbar=False, title=None)
    assert len(fig.axes) == 1
    assert fig.axes[0].get_title() == ""
