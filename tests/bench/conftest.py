from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "bench: benchmark smoke run (python -m bench --quick on tiny shapes)")
