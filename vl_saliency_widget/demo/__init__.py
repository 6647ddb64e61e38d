"""Grounded toy vision-language models that ship with the package: meaningful saliency maps offline, in seconds.

``load_toy_vlm()`` gives a trained ``LlavaForConditionalGeneration`` and its ``LlavaProcessor``; ``toy_samples(n)``
gives held-out pictures with their question, answer and the box of the shape the answer depends on.
``load_binding_vlm()`` and ``binding_samples(n)`` are the binding toy's: "What color is the circle?" among shapes of
different colours, a vision tower that attends globally and a 6-layer decoder, where the methods can disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .data import Sample, binding_samples, toy_samples
    from .model import load_binding_vlm, load_toy_vlm

__all__ = ["Sample", "binding_samples", "load_binding_vlm", "load_toy_vlm", "toy_samples"]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "Sample": ".data",
        "toy_samples": ".data",
        "binding_samples": ".data",
        "load_toy_vlm": ".model",
        "load_binding_vlm": ".model",
    },
)
