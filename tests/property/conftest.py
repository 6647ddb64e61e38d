"""Hypothesis settings for the property tests: derandomized (the same examples on every run and in CI), no
deadline (the first call of a torch kernel is slow), no example database written next to the repository."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("property", derandomize=True, deadline=None, database=None, print_blob=True)
settings.load_profile("property")
