"""SaliencyMap: an immutable [layers, heads, H, W] tensor of image-patch scores for one token."""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, runtime_checkable

import numpy as np
import torch

from .reduce import Reduction, reduce_layers_heads

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from PIL.Image import Image


@runtime_checkable
class Transform(Protocol):
    """Anything that maps a SaliencyMap to a new SaliencyMap: ``transform(map) -> map``."""

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap: ...


# torch functions a SaliencyMap may be passed to, matched by name so that `torch.add`, `torch.Tensor.add`
# and `torch.nn.functional.relu` are all covered. Anything else should go through `.tensor()`.
_ALLOWED_TORCH_FUNCTIONS = frozenset(
    {
        "abs",
        "add",
        "allclose",
        "amax",
        "amin",
        "clamp",
        "clip",
        "div",
        "divide",
        "eq",
        "equal",
        "exp",
        "ge",
        "gt",
        "isclose",
        "le",
        "log",
        "log1p",
        "lt",
        "max",
        "maximum",
        "mean",
        "min",
        "minimum",
        "mul",
        "multiply",
        "ne",
        "neg",
        "pow",
        "relu",
        "sigmoid",
        "sqrt",
        "square",
        "std",
        "sub",
        "subtract",
        "sum",
        "tanh",
        "true_divide",
        "var",
        "where",
    }
)

_IMMUTABLE_HINT = "SaliencyMap is immutable; use the out-of-place form, which returns a new map"


class SaliencyMap:
    """Immutable saliency scores of shape [layers, heads, H, W]: H, W are image grid cells (pixels once upscaled).

    The constructor stores a detached CPU copy of the tensor, and ``map``, ``tensor()`` and ``numpy()`` hand out
    copies: neither later changes to the source tensor nor changes to what the map handed out reach the map.
    Floating dtypes are kept; integer and boolean tensors become the default float dtype.

    Transforms return new maps: ``m >> T.normalize()``, ``m.apply(transform)``, ``m.agg()``.
    Arithmetic (``+ - * /``) works with maps of the same shape, real scalars, and tensors that broadcast to a
    4D result. Whitelisted torch functions (``torch.clamp(m, 0, 1)``, ``torch.maximum(a, b)``, ...) return a
    SaliencyMap when the result is 4D. In-place torch operations and ``out=`` raise TypeError.

    Args:
        map: tensor of shape [layers, heads, H, W].

    Raises:
        TypeError: ``map`` is not a torch.Tensor.
        ValueError: ``map`` is not 4D.
    """

    __slots__ = ("_map",)
    _map: torch.Tensor  # the package's transforms read it without copying and never modify it

    def __init__(self, map: torch.Tensor) -> None:
        if not isinstance(map, torch.Tensor):
            raise TypeError(
                f"SaliencyMap expects a torch.Tensor of shape [layers, heads, H, W], got {type(map).__name__}; "
                "convert it with torch.as_tensor(...) first."
            )
        if map.dim() != 4:
            raise ValueError(
                f"SaliencyMap needs a 4D tensor [layers, heads, H, W], got shape {list(map.shape)}; "
                "add the missing axes, e.g. tensor[None, None] for a single [H, W] map."
            )
        dtype = map.dtype if map.is_floating_point() else torch.get_default_dtype()
        object.__setattr__(self, "_map", map.detach().to(device="cpu", dtype=dtype, copy=True))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{_IMMUTABLE_HINT} (tried to set {name!r}).")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{_IMMUTABLE_HINT} (tried to delete {name!r}).")

    def __reduce__(self) -> tuple[type[SaliencyMap], tuple[torch.Tensor]]:
        return (SaliencyMap, (self._map,))

    @property
    def map(self) -> torch.Tensor:
        """A copy of the scores, shape [layers, heads, H, W] (as ``tensor()``: changing it leaves the map as it was)."""
        return self._map.clone()

    @property
    def shape(self) -> torch.Size:
        """Shape [layers, heads, H, W]."""
        return self._map.shape

    def tensor(self) -> torch.Tensor:
        """A copy of the scores, shape [layers, heads, H, W]."""
        return self._map.clone()

    def numpy(self) -> np.ndarray:
        """A NumPy copy of the scores, shape [layers, heads, H, W] (bfloat16 becomes float32)."""
        t = self._map.float() if self._map.dtype == torch.bfloat16 else self._map
        return t.numpy().copy()

    def save(self, path: str | os.PathLike[str] | BinaryIO, **kwargs: Any) -> None:
        """Write the [layers, heads, H, W] tensor with ``torch.save``; ``torch.load`` reads it back."""
        torch.save(self._map, path, **kwargs)

    def __repr__(self) -> str:
        if self._map.numel() == 0:
            value_range = "empty"
        else:
            value_range = f"[{self._map.min().item():.4g}, {self._map.max().item():.4g}]"
        dtype = str(self._map.dtype).removeprefix("torch.")
        return f"SaliencyMap(shape={list(self._map.shape)}, dtype={dtype}, range={value_range})"

    def __eq__(self, other: object) -> bool:
        """True when ``other`` is a SaliencyMap with equal shape and values (a tensor is never equal)."""
        return isinstance(other, SaliencyMap) and torch.equal(self._map, other._map)

    __hash__ = None  # type: ignore[assignment]  # equality is by value, and tensors are not hashable by value

    # Transforms

    def apply(self, transform: Transform) -> SaliencyMap:
        """Return ``transform(self)``, checking that the transform produced a SaliencyMap.

        Raises:
            TypeError: the transform returned something other than a SaliencyMap.
        """
        result = transform(self)
        if not isinstance(result, SaliencyMap):
            name = getattr(transform, "__name__", type(transform).__name__)
            raise TypeError(
                f"Transform {name!r} returned {type(result).__name__}, expected a SaliencyMap; "
                "wrap the result tensor in SaliencyMap(...) before returning it."
            )
        return result

    def __rshift__(self, transform: Transform) -> SaliencyMap:
        if not callable(transform):
            return NotImplemented
        return self.apply(transform)

    def agg(self, layer_reduce: Reduction | None = "mean", head_reduce: Reduction | None = "mean") -> SaliencyMap:
        """Reduce layers and heads: [L, H, h, w] -> [1 or L, 1 or H, h, w] (None keeps that axis).

        Reductions: "mean", "sum", "max", "min", "prod".
        """
        return SaliencyMap(reduce_layers_heads(self._map, layer_reduce, head_reduce))

    # Arithmetic

    def _operand(self, other: object) -> torch.Tensor | float | None:
        if isinstance(other, SaliencyMap):
            if other.shape != self.shape:
                raise ValueError(
                    f"SaliencyMap shapes differ: {list(self.shape)} and {list(other.shape)}; "
                    "select or aggregate layers and heads so both maps have the same shape."
                )
            return other._map
        if isinstance(other, torch.Tensor):
            return other.detach().cpu()
        if isinstance(other, numbers.Real):
            return float(other)
        return None

    def _binary(self, other: object, op: Callable[[Any, Any], torch.Tensor], reflected: bool = False) -> SaliencyMap:
        operand = self._operand(other)
        if operand is None:
            return NotImplemented
        result = op(operand, self._map) if reflected else op(self._map, operand)
        return SaliencyMap(result)

    def __add__(self, other: SaliencyMap | torch.Tensor | float) -> SaliencyMap:
        return self._binary(other, torch.add)

    def __radd__(self, other: torch.Tensor | float) -> SaliencyMap:
        return self._binary(other, torch.add, reflected=True)

    def __sub__(self, other: SaliencyMap | torch.Tensor | float) -> SaliencyMap:
        return self._binary(other, torch.sub)

    def __rsub__(self, other: torch.Tensor | float) -> SaliencyMap:
        return self._binary(other, torch.sub, reflected=True)

    def __mul__(self, other: SaliencyMap | torch.Tensor | float) -> SaliencyMap:
        return self._binary(other, torch.mul)

    def __rmul__(self, other: torch.Tensor | float) -> SaliencyMap:
        return self._binary(other, torch.mul, reflected=True)

    def __truediv__(self, other: SaliencyMap | torch.Tensor | float) -> SaliencyMap:
        return self._binary(other, torch.div)

    def __rtruediv__(self, other: torch.Tensor | float) -> SaliencyMap:
        return self._binary(other, torch.div, reflected=True)

    # torch interoperability

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: tuple[type, ...],
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        kwargs = dict(kwargs or {})
        name = getattr(func, "__name__", repr(func))
        in_place = name.endswith("_") and not name.startswith("__")
        if in_place or kwargs.get("out") is not None or kwargs.get("inplace"):
            raise TypeError(f"{_IMMUTABLE_HINT}; torch.{name} would modify it in place or write to out=.")
        if name not in _ALLOWED_TORCH_FUNCTIONS:
            raise NotImplementedError(
                f"torch function {name!r} is not supported on SaliencyMap; "
                "call it on saliency_map.tensor() and wrap a [layers, heads, H, W] result in SaliencyMap(...)."
            )
        result = func(*_unwrap(args), **{key: _unwrap(value) for key, value in kwargs.items()})
        if isinstance(result, torch.Tensor) and result.dim() == 4:
            return SaliencyMap(result)
        return result

    # Plotting

    def plot(
        self,
        image: Image | np.ndarray | None = None,
        show: bool = True,
        *,
        title: str | None = "Saliency Map",
        figsize: tuple[float, float] = (6, 6),
        colorbar: bool = True,
        **imshow_kwargs: Any,
    ) -> Figure:
        """Overlay a [1, 1, H, W] map on ``image`` (see ``viz.overlay``) and return the figure.

        With ``show=True`` the figure is displayed (inline in a notebook, in a window with an interactive
        matplotlib backend, nothing with a non-interactive backend such as Agg).

        Raises:
            ValueError: the map has more than one layer or head; call ``.agg()`` first.
        """
        layers, heads = self.shape[0], self.shape[1]
        if layers != 1 or heads != 1:
            raise ValueError(
                f"plot() needs a single map of shape [1, 1, H, W], got {list(self.shape)}; "
                "call .agg() (or select one head) first."
            )
        from ..viz.overlay import overlay, show_figure

        fig = overlay(self, image, title=title, figsize=figsize, show_colorbar=colorbar, **imshow_kwargs)
        if show:
            show_figure(fig)
        return fig


def _unwrap(value: Any) -> Any:
    """Replace SaliencyMaps (also inside lists and tuples) by their tensors."""
    if isinstance(value, SaliencyMap):
        return value._map
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_unwrap(item) for item in value)
    return value
