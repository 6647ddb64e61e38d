"""A small synthetic run (``synthetic.py``: no model), written once for the gallery's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gallery.synthetic import synthetic_run
from vl_saliency_widget.runs import Run

SAMPLES = 40
FAILED_EVERY = 7
"""Samples 6, 13, 20, 27 and 34 failed."""


@pytest.fixture(scope="package")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_run(tmp_path_factory.mktemp("gallery") / "run", SAMPLES, distinct=8, failed_every=FAILED_EVERY)


@pytest.fixture
def run(run_folder: Path) -> Run:
    return Run.load(run_folder)
