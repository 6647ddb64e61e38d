"""Comparisons of runs: rows without their timings, files by their contents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

TIMINGS = ("seconds", "timing")
"""Row fields that measure this invocation's clock, not its results."""


def comparable(row: dict[str, Any], *, paths: bool = True) -> dict[str, Any]:
    """``row`` without its timings (and, ``paths=False``, without its files' paths, which name the shard)."""
    drop = set(TIMINGS) | (set() if paths else {"trace", "maps"})
    return {k: v for k, v in row.items() if k not in drop}


def contents(path: Path) -> tuple[dict[str, Any], dict[str, tuple[str, list[int], bytes]]]:
    """A safetensors file's metadata (JSON values parsed) and tensors (dtype, shape, raw bytes).

    Compared instead of the files' bytes: safetensors writes its metadata map in an order that changes from one
    process to the next (a hash map), so two files with equal contents can differ byte for byte.
    """
    with safe_open(str(path), framework="pt") as f:
        meta = {k: json.loads(v) if v[:1] in '[{"' else v for k, v in (f.metadata() or {}).items()}
        tensors = {}
        for name in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
            tensor = f.get_tensor(name).contiguous()
            tensors[name] = (
                str(tensor.dtype),
                list(tensor.shape),
                tensor.reshape(-1).view(torch.uint8).numpy().tobytes(),
            )
    return meta, tensors
