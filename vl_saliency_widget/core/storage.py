"""Traces on disk: one safetensors file, tensors plus JSON metadata, no pickle.

Layout of the file:
- tensors ``attn`` [L, H, R, I], ``grad`` [L, H, R, I] (whole-sequence gradients), ``grad_rows`` [K, L, H, I]
  with ``grad_keys`` [K, 2] (position, row) for per-token gradients computed before saving, ``columns`` [I],
  ``view_<image>_<view>`` [rows, cols] positions and ``picture_<image>`` [height, width, channels] uint8;
- metadata ``vl_saliency_trace``: JSON with the format version, token ids and strings, the special-token mask,
  ``gen_start``, the image token id, the gradients option, whether columns are cross-attention keys, and each
  image's layout (view names and boxes, frame size, extra positions).
Loading reads the JSON with ``json`` and the tensors with safetensors: nothing in the file is executed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..layouts import ImageLayout, View
from .trace import Trace

FORMAT_VERSION = 1
METADATA_KEY = "vl_saliency_trace"


def save_trace(trace: Trace, path: Path) -> None:
    """Write ``trace`` to ``path`` (see the module docstring for the layout)."""
    tensors: dict[str, torch.Tensor] = {"columns": trace.columns}
    if trace.attn is not None:
        tensors["attn"] = trace.attn
    if trace._grad is not None:
        tensors["grad"] = trace._grad
    if trace._grad_rows:
        keys = sorted(trace._grad_rows)
        tensors["grad_keys"] = torch.tensor(keys, dtype=torch.long)
        tensors["grad_rows"] = torch.stack([trace._grad_rows[k] for k in keys])
    layouts = []
    for i, layout in enumerate(trace.image_layouts):
        for j, view in enumerate(layout.views):
            tensors[f"view_{i}_{j}"] = view.positions
        layouts.append(
            {
                "size": list(layout.size),
                "extra_positions": list(layout.extra_positions),
                "views": [{"name": v.name, "box": [float(b) for b in v.box]} for v in layout.views],
            }
        )
    for i, picture in enumerate(trace.images):
        tensors[f"picture_{i}"] = torch.from_numpy(np.asarray(picture.convert("RGB"), dtype=np.uint8).copy())
    metadata = {
        "format_version": FORMAT_VERSION,
        "token_ids": trace.token_ids,
        "token_strings": trace.token_strings,
        "special_mask": trace.special_mask,
        "gen_start": trace.gen_start,
        "image_token_id": trace.image_token_id,
        "gradients": trace.gradients,
        "has_grad": trace._has_grad,
        "cross_attention": trace._cross,
        "layouts": layouts,
    }
    contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    save_file(contiguous, str(path), metadata={METADATA_KEY: json.dumps(metadata)})


def load_trace(path: Path) -> Trace:
    """Read a trace written by ``save_trace``."""
    if not path.exists():
        raise FileNotFoundError(f"No trace file at {path}.")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable trace file (truncated or corrupted?): {error}") from error
    if METADATA_KEY not in header:
        raise ValueError(f"{path} is a safetensors file but not a trace: it has no {METADATA_KEY!r} metadata.")
    try:
        meta: dict[str, Any] = json.loads(header[METADATA_KEY])
        version = int(meta["format_version"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: the trace metadata is corrupted ({error}).") from error
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written in trace format {version}, newer than this vl-saliency-widget reads "
            f"({FORMAT_VERSION}): upgrade the package."
        )
    try:
        return _trace_from(meta, tensors)
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: the trace is incomplete or inconsistent ({error!r}).") from error


def _trace_from(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Trace:
    layouts = []
    for i, entry in enumerate(meta["layouts"]):
        views = tuple(
            View(name=v["name"], positions=tensors[f"view_{i}_{j}"], box=tuple(v["box"]))  # type: ignore[arg-type]
            for j, v in enumerate(entry["views"])
        )
        size = (int(entry["size"][0]), int(entry["size"][1]))
        layouts.append(ImageLayout(views=views, size=size, extra_positions=tuple(entry["extra_positions"])))
    pictures = [Image.fromarray(tensors[f"picture_{i}"].numpy()) for i in range(len(layouts))]
    grad_rows: dict[tuple[int, int], torch.Tensor] = {}
    if "grad_keys" in tensors:
        for (position, row), values in zip(tensors["grad_keys"].tolist(), tensors["grad_rows"], strict=True):
            grad_rows[(int(position), int(row))] = values
    token_ids = [int(t) for t in meta["token_ids"]]
    if len(meta["token_strings"]) != len(token_ids) or len(meta["special_mask"]) != len(token_ids):
        raise ValueError("token strings or special mask do not match the token ids")
    return Trace(
        token_ids=token_ids,
        gen_start=int(meta["gen_start"]),
        image_token_id=int(meta["image_token_id"]),
        image_layouts=layouts,
        images=pictures,
        attn=tensors.get("attn"),
        grad=tensors.get("grad"),
        gradients=meta["gradients"],
        columns=tensors["columns"] if meta["cross_attention"] else None,
        token_strings=[str(s) for s in meta["token_strings"]],
        special_mask=[bool(b) for b in meta["special_mask"]],
        grad_rows=grad_rows,
        grads_captured=bool(meta["has_grad"]),
    )
