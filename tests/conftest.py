"""Fixtures shared by test modules in several folders.

``qwen_case`` and ``qwen_trace`` are built once per test session: the tests that use them read them and never
change them (a test that trains, casts or edits a model builds its own with ``make_case`` or ``tiny_vlm``).
"""

from __future__ import annotations

import pytest

from tests.cases import Case, make_case
from vl_saliency_widget import SaliencyExtractor, Trace


@pytest.fixture(scope="session")
def qwen_case() -> Case:
    """The tiny Qwen2-VL of the zoo asked about one picture, with a 3-token greedy answer."""
    return make_case("qwen2_vl", new_tokens=3)


@pytest.fixture(scope="session")
def qwen_trace(qwen_case: Case) -> Trace:
    """``qwen_case``'s prompt and answer captured with attention only (``store_grads=False``) and its picture."""
    return SaliencyExtractor(qwen_case.model, qwen_case.processor, store_grads=False).capture(
        **qwen_case.inputs, generated_ids=qwen_case.generated, images=[qwen_case.image]
    )
