"""Composition: the Transform protocols, the Chainable base, Pipeline, and the ``@chainable`` decorator."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, Concatenate, Generic, ParamSpec, overload

from ..core.map import SaliencyMap, Transform
from ..core.method import TraceTransform

__all__ = ["Chainable", "ChainableFunction", "Pipeline", "TraceTransform", "Transform", "chainable"]

P = ParamSpec("P")


def _name(transform: Transform) -> str:
    return str(getattr(transform, "__name__", type(transform).__name__))


class Chainable(ABC):
    """Base class for transforms that compose with ``>>`` into a Pipeline.

    Subclasses implement ``__call__(self, saliency_map) -> SaliencyMap``.
    """

    @abstractmethod
    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap: ...

    def __rshift__(self, other: Transform) -> Pipeline:
        if not callable(other):
            return NotImplemented
        return Pipeline(self, other)


class Pipeline(Chainable):
    """Transforms applied left to right. Nested pipelines are flattened into their steps.

    Args:
        *transforms: callables ``SaliencyMap -> SaliencyMap``.

    Raises:
        TypeError: a step is not callable.
    """

    def __init__(self, *transforms: Transform) -> None:
        self.transforms: list[Transform] = []
        self._extend(transforms)

    def _extend(self, transforms: Iterable[Transform]) -> None:
        for transform in transforms:
            if isinstance(transform, Pipeline):
                self.transforms.extend(transform.transforms)
            elif callable(transform):
                self.transforms.append(transform)
            else:
                raise TypeError(
                    f"Pipeline steps must be callables SaliencyMap -> SaliencyMap, got {type(transform).__name__}."
                )

    def append(self, transform: Transform) -> None:
        """Add a step (or all steps of another pipeline) at the end, in place."""
        self._extend([transform])

    def __len__(self) -> int:
        return len(self.transforms)

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        for transform in self.transforms:
            saliency_map = saliency_map.apply(transform)
        return saliency_map

    def __repr__(self) -> str:
        return f"Pipeline({', '.join(_name(t) for t in self.transforms)})"


class _BoundTransform(Chainable):
    """A ``@chainable`` function with its extra arguments fixed, waiting for a map."""

    def __init__(self, fn: Callable[..., SaliencyMap], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.__name__ = fn.__name__

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        return self.fn(saliency_map, *self.args, **self.kwargs)

    def __repr__(self) -> str:
        params = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.__name__}({', '.join(params)})"


class ChainableFunction(Generic[P]):
    """A function ``fn(map, *args, **kwargs) -> map`` usable eagerly or lazily.

    ``f(saliency_map, ...)`` applies it now and returns a SaliencyMap; ``f(...)`` without a map returns a
    one-step Pipeline to compose with ``>>`` or apply later. The map is always passed positionally, so the
    wrapped function may name its first parameter anything.
    """

    def __init__(self, fn: Callable[Concatenate[SaliencyMap, P], SaliencyMap]) -> None:
        self._fn = fn
        functools.update_wrapper(self, fn)

    @overload
    def __call__(self, saliency_map: SaliencyMap, /, *args: P.args, **kwargs: P.kwargs) -> SaliencyMap: ...

    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Pipeline: ...

    # mypy cannot check a ParamSpec overload against a plain *args implementation; callers see the overloads.
    def __call__(self, *args: Any, **kwargs: Any) -> SaliencyMap | Pipeline:  # type: ignore[misc]
        if args and isinstance(args[0], SaliencyMap):
            return self._fn(*args, **kwargs)
        return Pipeline(_BoundTransform(self._fn, args, kwargs))

    def __repr__(self) -> str:
        return f"<chainable {self._fn.__qualname__}>"


def chainable(fn: Callable[Concatenate[SaliencyMap, P], SaliencyMap]) -> ChainableFunction[P]:
    """Decorate ``fn(map, **options) -> map`` so that ``fn(map)`` runs it and ``fn(**options)`` returns a Pipeline.

    Example::

        @chainable
        def scale(saliency_map: SaliencyMap, factor: float = 2.0) -> SaliencyMap:
            return saliency_map * factor

        scale(m, factor=3)          # SaliencyMap
        m >> scale(factor=3)        # same result, lazily
    """
    return ChainableFunction(fn)
