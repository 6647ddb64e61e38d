"""What a saliency method consumes, and how a trace hands it over.

A method (``lib.gradcam``, ``lib.relevancy``, your own) is called by ``trace.map(token, mode=method)``. Two kinds:

- a plain function ``fn(attn, grad) -> SaliencyMap``, the reference library's signature: it gets the token's
  attention and gradient maps, [layers, heads, H, W] each;
- a :class:`TraceMethod`, which declares in ``needs`` what it consumes. The extractor records only that
  (``SaliencyExtractor(model, processor, methods=[...])``), and the trace passes it as :class:`MethodInputs`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, Protocol, runtime_checkable

import torch

from .map import SaliencyMap


@dataclass(frozen=True)
class Needs:
    """What a method consumes; the capture records the union of its methods' needs.

    Attributes:
        attention: attention probabilities of the token's query row over the image.
        gradients: the gradient of the token's score with respect to what is kept (attention; scores; whole
            matrices).
        scores: pre-softmax attention scores of the token's row over the image (and, with ``gradients``, their
            gradients).
        matrices: every layer's whole attention matrix, all rows and keys (relevancy, rollout), and with
            ``gradients`` its whole gradient.
        model: passes of the model itself on changed inputs (occlusion, RISE): the trace keeps a handle to the
            model after ``capture``; a loaded trace needs ``trace.attach(model, processor)`` for what it did not
            compute before it was saved.
    """

    attention: bool = False
    gradients: bool = False
    scores: bool = False
    matrices: bool = False
    model: bool = False

    def __or__(self, other: Needs) -> Needs:
        return Needs(
            attention=self.attention or other.attention,
            gradients=self.gradients or other.gradients,
            scores=self.scores or other.scores,
            matrices=self.matrices or other.matrices,
            model=self.model or other.model,
        )


PLAIN_NEEDS = Needs(attention=True, gradients=True)
"""The needs of a plain ``fn(attn, grad)`` method."""


@dataclass(frozen=True)
class LayerMatrices:
    """One layer's whole attention and, when captured, its gradient.

    Attributes:
        kind: "self" (keys: the sequence's positions) or "cross" (keys: the image features, as in Mllama).
        attn: [heads, T, keys] attention probabilities, float32.
        grad: [heads, T, keys] gradient of the token's score with respect to them, or None.
    """

    kind: Literal["self", "cross"]
    attn: torch.Tensor
    grad: torch.Tensor | None


class MethodInputs:
    """Everything a :class:`TraceMethod` may read for one token and one image, computed when first read.

    Attributes:
        position: the token's absolute position in the sequence.
        query: the absolute position of the query row that explains it (``align``).
        text_length: T, the sequence's length; a joint key axis (``matrices``, ``image_map``) holds the
            sequence's positions, followed, in cross-attention models, by the image features.
    """

    def __init__(
        self,
        *,
        position: int,
        query: int,
        text_length: int,
        sources: dict[str, Callable[[], Any]],
        image_map: Callable[[torch.Tensor], SaliencyMap],
    ):
        self.position = position
        self.query = query
        self.text_length = text_length
        self._sources = sources
        self._image_map = image_map

    def _get(self, name: str) -> Any:
        return self._sources[name]()

    @cached_property
    def attn(self) -> SaliencyMap:
        """[layers, heads, H, W] attention of the query row over the image."""
        return self._get("attn")  # type: ignore[no-any-return]

    @cached_property
    def grad(self) -> SaliencyMap:
        """[layers, heads, H, W] gradient of the token's score with respect to that attention."""
        return self._get("grad")  # type: ignore[no-any-return]

    @cached_property
    def scores(self) -> SaliencyMap:
        """[layers, heads, H, W] pre-softmax scores (``q . k * scaling``, softcapped, masked) of the query row."""
        return self._get("scores")  # type: ignore[no-any-return]

    @cached_property
    def score_grad(self) -> SaliencyMap:
        """[layers, heads, H, W] gradient of the token's score with respect to the pre-softmax scores."""
        return self._get("score_grad")  # type: ignore[no-any-return]

    @cached_property
    def perturbation(self) -> Any:
        """The model's passes on changed pictures of this image (``core.perturb.Perturbations``)."""
        return self._get("perturbation")

    @cached_property
    def matrices(self) -> list[LayerMatrices]:
        """Every layer's whole attention (and gradient), in the order the layers ran."""
        return self._get("matrices")  # type: ignore[no-any-return]

    def image_map(self, values: torch.Tensor) -> SaliencyMap:
        """[..., joint keys] scores over the joint key axis -> SaliencyMap [..., H, W] over the image.

        A 1-D vector becomes a [1, 1, H, W] map (one layer, one head), so ``.agg()`` and the transforms apply.
        """
        if values.ndim == 1:
            values = values[None, None]
        return self._image_map(values)


class TraceMethod(ABC):
    """Base of the methods that declare what they need; a subclass sets ``needs`` and implements ``compute``.

    ``trace.map(token, mode=method)`` checks the trace holds what ``needs`` lists (else says how to capture it)
    and calls ``method(inputs)``.
    """

    needs: Needs = PLAIN_NEEDS
    name: str = ""
    """The name the widget's method menu and error messages show (``lib.agcam.name == "agcam"``)."""

    @abstractmethod
    def compute(self, inputs: MethodInputs) -> SaliencyMap:
        """The token's map over the image: [layers, heads, H, W] (or [1, 1, H, W] for a single vector)."""

    def __call__(self, inputs: MethodInputs) -> SaliencyMap:
        return self.compute(inputs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@runtime_checkable
class TraceTransform(Protocol):
    """A plain method, the reference library's signature: attention and gradient maps of equal shape
    [layers, heads, H, W] in, a SaliencyMap out. ``trace.map(token, mode=method)`` calls it; it needs what
    ``PLAIN_NEEDS`` says. It is not chainable, since it takes two maps.
    """

    def __call__(self, attn: SaliencyMap, grad: SaliencyMap, /) -> SaliencyMap: ...


Method = str | TraceMethod | TraceTransform
"""What ``trace.map(token, mode=...)`` takes: "attn", "grad", a TraceMethod or a plain ``fn(attn, grad)``."""


def method_name(method: Any) -> str:
    """The name a method is shown and reported by: ``name`` of a TraceMethod, else the function's name."""
    if isinstance(method, TraceMethod) and method.name:
        return method.name
    return str(getattr(method, "__name__", type(method).__name__))


def needs_of(method: Any) -> Needs:
    """What ``method`` consumes: its declared ``needs``, or the plain ``fn(attn, grad)`` needs."""
    return method.needs if isinstance(method, TraceMethod) else PLAIN_NEEDS


def needs_of_all(methods: Any) -> Needs:
    """The union of the needs of ``methods`` (strings "attn" and "grad" included)."""
    total = Needs()
    for method in methods:
        if method == "attn":
            total = total | Needs(attention=True)
        elif method == "grad":
            total = total | Needs(gradients=True)
        elif isinstance(method, str):
            raise ValueError(f"Unknown method {method!r}: use 'attn', 'grad' or a method from vl_saliency_widget.lib.")
        elif callable(method):
            total = total | needs_of(method)
        else:
            raise TypeError(f"methods must hold 'attn', 'grad' or methods, not {type(method).__name__}.")
    return total
