"""A grounded toy vision-language model that ships with the package: meaningful saliency maps offline, in seconds.

``load_toy_vlm()`` gives a trained ``LlavaForConditionalGeneration`` and its ``LlavaProcessor``; ``toy_samples(n)``
gives held-out pictures with their question, answer and the box of the shape the answer depends on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .data import Sample, toy_samples
    from .model import load_toy_vlm

__all__ = ["Sample", "load_toy_vlm", "toy_samples"]

__getattr__, __dir__ = lazy_attributes(__name__, {"Sample": ".data", "toy_samples": ".data", "load_toy_vlm": ".model"})
