"""One case per zoo architecture for the capture tests: the model, its chat-template inputs and a short answer.

Every zoo architecture, none skipped: one without an image layout fails these tests (and tests/testing/test_zoo.py
names it).
"""

from __future__ import annotations

import pytest

from tests.cases import Case, make_case
from vl_saliency_widget.testing import ARCHITECTURES


@pytest.fixture(params=ARCHITECTURES, scope="module")
def case(request: pytest.FixtureRequest) -> Case:
    return make_case(request.param)
