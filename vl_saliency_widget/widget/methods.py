"""The widget's method menu: what a trace can map, the methods a user adds, and why a method is not there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.method import Method, needs_of, needs_of_all
from ..core.trace import Trace
from ..lib import METHODS


def builtin_methods(trace: Trace) -> dict[str, Method]:
    """The method menu a trace supports: its string modes, and the built-in methods whose needs it holds."""
    methods: dict[str, Method] = {mode: mode for mode in trace.modes}
    methods |= {name: method for name, method in METHODS.items() if not trace.missing(needs_of(method))}
    return methods


def menu(trace: Trace, mode: Method | None, methods: Mapping[str, Method] | None) -> tuple[dict[str, Method], str]:
    """The menu, by name (the trace's methods, then ``methods``, then ``mode`` when it is a function), and the name
    of the method to start with: ``mode``'s, or the menu's first.

    Raises:
        TypeError: ``mode`` or a value of ``methods`` is neither a name nor callable.
    """
    for name, fn in {"mode": mode, **{f"methods[{k!r}]": v for k, v in (methods or {}).items()}}.items():
        if fn is not None and not isinstance(fn, str) and not callable(fn):
            raise TypeError(
                f"{name} is {type(fn).__name__}; a method is a name from the menu ('attn', 'grad', 'gradcam', "
                "...) or a trace transform fn(attn, grad) -> SaliencyMap, such as vl_saliency_widget.lib.gradcam."
            )
    choices: dict[str, Method] = builtin_methods(trace) | dict(methods or {})
    if mode is not None and not isinstance(mode, str):
        name = getattr(mode, "__name__", type(mode).__name__)
        choices[name] = mode
        mode = name
    return choices, mode if mode is not None else next(iter(choices))


def check_mode(name: Any, choices: Mapping[str, Method], trace: Trace) -> str:
    """``name`` when the menu holds it; else a ValueError that says why it is not there and what to do: for a
    built-in method, what its declared needs lack and how to capture them (``Trace.check_needs``)."""
    if name in choices:
        return str(name)
    says = (
        f"Unknown method {name!r}: choose one of {list(choices)}. The menu holds only the methods this trace's "
        f"data supports (it holds {' and '.join(trace.modes) or 'neither attention nor gradients'})"
    )
    builtin: dict[str, Method] = {"attn": "attn", "grad": "grad", **METHODS}
    if isinstance(name, str) and name in builtin:
        method = builtin[name]
        try:
            trace.check_needs(needs_of_all([method]), repr(name) if isinstance(method, str) else f"lib.{name}")
        except ValueError as lacking:
            raise ValueError(f"{says}. {lacking}") from None
    absent = ", ".join(f"lib.{key}" for key in METHODS if key not in choices)
    lacks = f"; not in it, for want of data: {absent} (set mode to one to see what it needs)" if absent else ""
    raise ValueError(f"{says}, and those passed as SaliencyWidget(trace, methods={{name: fn}}){lacks}.")


def check_pipeline(value: Any) -> Any:
    """``value`` when it is a transform or None; else a ValueError that says what a pipeline is."""
    if value is not None and not callable(value):
        raise ValueError(
            f"pipeline must be a transform SaliencyMap -> SaliencyMap (e.g. T.normalize(), or "
            f"T.abs() >> T.normalize()) or None, not {type(value).__name__}."
        )
    return value
