"""Array and picture serialization for the widget: numbers travel as binary buffers, never as JSON lists.

One shape for every array, in traits and in messages alike: ``{"data": <bytes>, "dtype": str, "shape": [...]}``.
The JS side (``js/codec.ts``) wraps ``data`` in the matching typed array. In a trait, ``data`` is a memoryview
that ipywidgets sends as a binary buffer; in a custom message the buffers go beside the content, so
``pack_message`` replaces ``data`` by the index of its buffer. For the offline HTML export the same state is
written as JSON with each buffer base64-encoded (``{"$base64": "..."}``), which ``js/standalone.ts`` revives.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

DTYPES = ("float32", "int32", "uint8")
"""The dtypes the JS codec understands (Float32Array, Int32Array, Uint8Array)."""


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """The wire form of ``array``: its C-contiguous bytes as a memoryview, dtype name and shape.

    The memoryview shares memory with ``array`` when it is already contiguous: pass a copy if you will write
    into the array later.
    """
    if array.dtype.name not in DTYPES:
        raise TypeError(f"Arrays sent to the widget must be one of {DTYPES}, not {array.dtype}; cast with astype().")
    data = np.ascontiguousarray(array).reshape(-1).view(np.uint8).data
    return {"data": data, "dtype": array.dtype.name, "shape": list(array.shape)}


def decode_array(spec: dict[str, Any]) -> np.ndarray:
    """The array an ``encode_array`` spec holds (read-only: it shares memory with ``data``; copy to write)."""
    return np.frombuffer(spec["data"], dtype=spec["dtype"]).reshape(spec["shape"])


def pack_message(content: dict[str, Any]) -> tuple[dict[str, Any], list[memoryview]]:
    """Split encoded arrays (top-level values of ``content``) into message buffers.

    Returns the JSON-safe content, where each array's ``data`` became ``{"buffer": i}``, and the buffers.
    """
    packed: dict[str, Any] = {}
    buffers: list[memoryview] = []
    for key, value in content.items():
        if isinstance(value, dict) and "data" in value and "dtype" in value:
            packed[key] = {"buffer": len(buffers), "dtype": value["dtype"], "shape": value["shape"]}
            buffers.append(value["data"])
        else:
            packed[key] = value
    return packed, buffers


def encode_picture(image: Image.Image) -> dict[str, Any]:
    """A picture as PNG bytes plus its size in pixels: ``{"png": bytes, "width": int, "height": int}``."""
    buffer = io.BytesIO()
    image.convert("RGB" if image.mode not in ("RGB", "RGBA") else image.mode).save(buffer, format="PNG")
    return {"png": buffer.getvalue(), "width": image.width, "height": image.height}


def to_json_state(value: Any) -> Any:
    """``value`` with every bytes-like leaf replaced by ``{"$base64": str}``, ready for ``json.dumps``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {key: to_json_state(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_state(item) for item in value]
    return value
