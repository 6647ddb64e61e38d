"""The messages between the widget and its view (``js/`` speaks the same), besides the synced traits.

From the view, parsed by :func:`parse` into a typed request:

- ``{"type": "select", "id": int, "token": int}``: a token was clicked; answered by a "detail" message with the
  same ``id`` (request id 0 marks a detail that Python started: ``w.token = ...``, ``w.pipeline = ...``);
- ``{"type": "compute_all"}``: compute every token's map;
- ``{"type": "region", "point": [x, y]}`` (a click), ``"box": [left, top, right, bottom]`` (a drag) or neither (clear
  the region), in fractions of the picture's width and height.

To the view: "detail" (:func:`detail_message`), "preview" (``Previews.update``) and "progress" (:func:`progress`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.map import SaliencyMap
from .serialize import encode_array, pack_message

OUT_OF_STEP = (
    "the front end and the Python package are out of step: rebuild the front end (npm run build) or "
    "reinstall the package, then reload the page."
)


class ProtocolError(ValueError):
    """A message from the view that does not fit; its text is what the widget's error banner shows."""


@dataclass(frozen=True)
class Select:
    """Show the map of the token at absolute position ``token``, answering request ``id``."""

    id: int
    token: int


@dataclass(frozen=True)
class ComputeAll:
    """Compute the map of every token not computed yet."""


@dataclass(frozen=True)
class PickRegion:
    """A click (``point`` [x, y]), a drag (``box`` [left, top, right, bottom]) or a clear (neither) on the picture,
    in fractions of its width and height."""

    point: tuple[float, float] | None = None
    box: tuple[float, float, float, float] | None = None


Request = Select | ComputeAll | PickRegion


def parse(content: Any) -> Request:
    """The request a message from the view makes.

    Raises:
        ProtocolError: an unknown message, or fields of the wrong type.
    """
    kind = content.get("type") if isinstance(content, dict) else None
    if kind == "compute_all":
        return ComputeAll()
    if kind == "region":
        if "point" in content:
            x, y = _numbers(content["point"], 2)
            return PickRegion(point=(x, y))
        if "box" in content:
            left, top, right, bottom = _numbers(content["box"], 4)
            return PickRegion(box=(left, top, right, bottom))
        return PickRegion()
    if kind != "select":
        raise ProtocolError(f"The view sent a message this widget does not know ({str(content)[:80]}); {OUT_OF_STEP}")
    request, token = content.get("id"), content.get("token")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (request, token)):
        raise ProtocolError(
            f"The view asked for token {token!r} with request id {request!r}, not integers; {OUT_OF_STEP}"
        )
    return Select(id=request, token=token)


def _numbers(value: Any, count: int) -> list[float]:
    if not isinstance(value, list) or len(value) != count or not all(isinstance(v, (int, float)) for v in value):
        raise ProtocolError(f"The view sent {value!r} where {count} numbers (fractions of the picture) belong.")
    return [float(v) for v in value]


def describe(error: BaseException) -> str:
    """One line for the widget's error banner: the error's type and words."""
    return f"{type(error).__name__}: {error}"


def detail_header(request: int, token: int, mode: str, image_index: int) -> dict[str, Any]:
    """What every "detail" message starts with: which request it answers and what it shows."""
    return {"type": "detail", "id": request, "token": token, "mode": mode, "image_index": image_index}


def detail_message(
    header: dict[str, Any], smap: SaliencyMap, labels: tuple[list[int], list[int]]
) -> tuple[dict[str, Any], list[memoryview]]:
    """The "detail" message's content and buffers: ``header``, the model's index of each layer and head
    (``labels``, from ``Trace.axis_labels``) and ``detail``, float32 [layers, heads, h, w]."""
    layer_labels, head_labels = labels
    return pack_message(
        header
        | {"layer_labels": layer_labels, "head_labels": head_labels}
        | {"detail": encode_array(smap.numpy().astype(np.float32))}
    )


def detail_error(request: int, token: int, error: str) -> dict[str, Any]:
    """The "detail" answer to a selection that was refused: the token stays ``token``."""
    return {"type": "detail", "id": request, "token": token, "error": error}


def progress(done: int, total: int) -> dict[str, Any]:
    """How far ``compute_all`` is: ``done`` of ``total`` maps."""
    return {"type": "progress", "done": done, "total": total}
