"""Lazy package attributes: a package's public names imported when first used, so that importing the package (or
its command line) does not load torch and transformers until something needs them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each of ``names`` (public name -> relative module) is
    imported from its module when first asked for, then kept in the package's namespace."""

    def getattr_(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name], package), name)
        globals_ = importlib.import_module(package).__dict__
        globals_[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(importlib.import_module(package).__dict__) | set(names))

    return getattr_, dir_
