"""Traces on disk: one safetensors file, tensors plus JSON metadata, no pickle.

Layout of the file:
- tensors ``attn`` [L, H, R, I], ``grad`` [L, H, R, I] (whole-sequence gradients), ``grad_rows`` [K, L, H, I]
  with ``grad_keys`` [K, 2] (position, row) for per-token gradients computed before saving, ``columns`` [I],
  ``rows`` [R] (the captured query positions, only when a capture kept some: ``rows="answer"``),
  ``view_<image>_<view>`` [rows, cols] positions and ``picture_<image>`` [height, width, channels] uint8;
  for the methods that asked for them, ``scores`` [L, H, R, I] (pre-softmax), ``row_grad`` [L, H, R] (the
  whole-sequence gradient's row sums that score gradients need) and per layer ``full_attn_<k>`` [H, T, keys] with
  ``full_grad_<k>`` (whole-sequence gradients), the layers' kinds in the metadata's ``full_kinds``;
- metadata ``vl_saliency_trace``: JSON with the format version, token ids and strings, the special-token mask,
  ``gen_start``, the image token id, the gradients option, ``has_grad`` (whether gradients were captured: a
  per-token trace saved before any was computed holds none), whether columns are cross-attention keys, each
  image's layout (view names and boxes, frame size, extra positions), and ``layer_indices`` / ``head_indices``
  (the model's index of each captured layer and head, null for all).
- metadata ``vl_saliency_trace_sha256``: SHA-256 of that JSON and of every tensor's name, dtype, shape and bytes.
Loading reads the JSON with ``json`` and the tensors with safetensors: nothing in the file is executed. Every
field and tensor is checked against the others before a Trace is built, and the checksum catches a flipped bit
that would still make a consistent trace (a token id, a position), so a damaged file raises ValueError instead of
loading as a wrong trace.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..layouts import ImageLayout, View
from .trace import FullMatrices, Trace

FORMAT_VERSION = 4
"""Version 2 added the checksum, version 3 the methods' scores and whole matrices, version 4 ``rows``,
``layer_indices``, ``head_indices`` and ``has_grad`` (some version-3 files have them too); older files still load,
a missing ``has_grad`` read from the tensors, missing indices as "all"."""
METADATA_KEY = "vl_saliency_trace"
CHECKSUM_KEY = "vl_saliency_trace_sha256"


def save_trace(trace: Trace, path: Path) -> None:
    """Write ``trace`` to ``path`` (see the module docstring for the layout)."""
    tensors: dict[str, torch.Tensor] = {"columns": trace.columns}
    if not trace._all_rows:
        tensors["rows"] = trace.captured_rows
    if trace.attn is not None:
        tensors["attn"] = trace.attn
    if trace._grad is not None:
        tensors["grad"] = trace._grad
    if trace._grad_rows:
        keys = sorted(trace._grad_rows)
        tensors["grad_keys"] = torch.tensor(keys, dtype=torch.long)
        tensors["grad_rows"] = torch.stack([trace._grad_rows[k] for k in keys])
    if trace.scores is not None:
        tensors["scores"] = trace.scores
    if trace._row_grad is not None:
        tensors["row_grad"] = trace._row_grad
    full_kinds = None
    if trace.full is not None:
        full_kinds = list(trace.full.kinds)
        for k, matrix in enumerate(trace.full.attn):
            tensors[f"full_attn_{k}"] = matrix
        for k, matrix in enumerate(trace.full.grad or []):
            tensors[f"full_grad_{k}"] = matrix
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
        "full_kinds": full_kinds,
        "layer_indices": trace.layer_indices,
        "head_indices": trace.head_indices,
    }
    write_trace_file(path, tensors, metadata)


def write_trace_file(path: Path, tensors: Mapping[str, torch.Tensor], metadata: dict[str, Any]) -> None:
    """Write ``tensors`` and the ``metadata`` JSON to ``path``, with their checksum."""
    contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    text = json.dumps(metadata)
    header = {METADATA_KEY: text, CHECKSUM_KEY: _checksum(text, contiguous)}
    save_file(contiguous, str(path), metadata=header)


def read_trace_file(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The metadata and tensors of a trace file, its checksum verified; no check of what they hold.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a safetensors file, truncated, not a trace, a newer format, or a checksum mismatch.
    """
    if not path.exists():
        raise FileNotFoundError(f"No trace file at {path}.")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ValueError(f"{path} is not a readable trace file (truncated or corrupted?): {error}") from error
    if METADATA_KEY not in header:
        raise ValueError(f"{path} is a safetensors file but not a trace: it has no {METADATA_KEY!r} metadata.")
    text = header[METADATA_KEY]
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{path}: the trace metadata is corrupted, it is not JSON ({error}).") from error
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if type(version) is not int or version < 1:
        raise ValueError(f"{path}: the trace metadata is corrupted: no valid format_version.")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written in trace format {version}, newer than this vl-saliency-widget reads "
            f"({FORMAT_VERSION}): upgrade the package."
        )
    if (CHECKSUM_KEY in header or version >= 2) and header.get(CHECKSUM_KEY) != _checksum(text, tensors):
        raise ValueError(
            f"{path} is corrupted: its content does not match the checksum written with it "
            "(a damaged copy or a file edited by hand); save the trace again from its source."
        )
    return meta, tensors


def _checksum(text: str, tensors: Mapping[str, torch.Tensor]) -> str:
    digest = hashlib.sha256(text.encode())
    for name in sorted(tensors):
        tensor = tensors[name]
        digest.update(f"\n{name} {tensor.dtype} {list(tensor.shape)}\n".encode())
        digest.update(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_trace(path: Path) -> Trace:
    """Read a trace written by ``save_trace``, checking that every field fits the others.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a trace, is truncated, corrupted or inconsistent, or is of a newer format.
    """
    meta, tensors = read_trace_file(path)
    try:
        return _trace_from(meta, tensors)
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, OverflowError) as error:
        raise ValueError(f"{path}: the trace is incomplete or inconsistent: {error}") from error


def _check(ok: bool, problem: str) -> None:
    """Raise ValueError(problem) unless ``ok``: a field does not have the type, shape or value the rest implies."""
    if not ok:
        raise ValueError(problem)


def _is_int(value: Any) -> bool:
    return type(value) is int


def _ints(value: Any, name: str, low: int = -(2**63), high: int = 2**63) -> list[int]:
    _check(
        isinstance(value, list) and all(_is_int(v) and low <= v < high for v in value),
        f"{name} must be a list of integers in [{low}, {high})",
    )
    return list(value)


def _field(meta: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    _check(name in meta, f"the metadata has no {name!r}")
    value = meta[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    _check(type(value) in kinds, f"{name!r} must be {' or '.join(k.__name__ for k in kinds)}, not {value!r:.60}")
    return value


def _tensor(tensors: dict[str, torch.Tensor], name: str, dims: int, floating: bool) -> torch.Tensor:
    _check(name in tensors, f"the tensor {name!r} is missing")
    tensor = tensors[name]
    kind = "a floating" if floating else "an int64"
    _check(
        tensor.dim() == dims and (tensor.is_floating_point() if floating else tensor.dtype == torch.long),
        f"{name!r} must be {kind} tensor with {dims} dimensions, got {tensor.dtype} {list(tensor.shape)}",
    )
    return tensor


def _trace_from(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Trace:
    token_ids = _ints(_field(meta, "token_ids", list), "token_ids", 0)
    count = len(token_ids)
    _check(count > 0, "token_ids is empty")
    token_strings = _field(meta, "token_strings", list)
    special_mask = _field(meta, "special_mask", list)
    _check(len(token_strings) == count and all(type(s) is str for s in token_strings), "token_strings do not fit")
    _check(len(special_mask) == count and all(type(b) is bool for b in special_mask), "special_mask does not fit")
    gen_start = _field(meta, "gen_start", int)
    _check(0 <= gen_start <= count, f"gen_start {gen_start} is outside the {count} tokens")
    image_token_id = _field(meta, "image_token_id", int)
    gradients = _field(meta, "gradients", str)
    _check(gradients in ("token", "sequence"), f"gradients must be 'token' or 'sequence', not {gradients!r:.60}")
    if "has_grad" in meta or meta["format_version"] >= 4:
        has_grad = _field(meta, "has_grad", bool)
    else:  # older files: gradients were captured where the file holds some
        has_grad = "grad" in tensors or "grad_rows" in tensors
    cross = _field(meta, "cross_attention", bool)

    is_image = torch.tensor(token_ids) == image_token_id
    image_positions = torch.nonzero(is_image).flatten()
    text_rows = count - len(image_positions)
    kept_rows = None
    if "rows" in tensors:  # a capture that kept only some text rows (rows="answer")
        kept_rows = _tensor(tensors, "rows", 1, floating=False)
        _check(
            kept_rows.numel() > 0
            and bool((kept_rows.diff() > 0).all())
            and int(kept_rows.min()) >= 0
            and int(kept_rows.max()) < count
            and not bool(is_image[kept_rows].any()),
            "'rows' must be increasing text positions of the sequence",
        )
        text_rows = kept_rows.numel()
    columns = _tensor(tensors, "columns", 1, floating=False)
    if cross:
        _check(
            columns.numel() > 0 and bool((columns >= 0).all()) and bool((columns.diff() > 0).all()),
            "cross-attention columns must be increasing non-negative key indices",
        )
    else:
        _check(torch.equal(columns, image_positions), "columns are not the image-token positions")
    _check(columns.numel() > 0, "the trace has no image columns")
    cells = set(columns.tolist())

    names = {"columns"} | ({"rows"} if kept_rows is not None else set())
    attn = grad = None
    if "attn" in tensors:
        attn = _tensor(tensors, "attn", 4, floating=True)
        names.add("attn")
    if "grad" in tensors:
        grad = _tensor(tensors, "grad", 4, floating=True)
        names.add("grad")
        _check(gradients == "sequence" and has_grad, "a whole-sequence gradient in a trace not captured so")
    if gradients == "sequence" and has_grad:
        _check(grad is not None, "the whole-sequence gradient is missing")
    for name, values in (("attn", attn), ("grad", grad)):
        if values is not None:
            _check(
                values.shape[0] > 0 and values.shape[1] > 0 and tuple(values.shape[2:]) == (text_rows, len(cells)),
                f"{name!r} has shape {list(values.shape)}, not [layers, heads, {text_rows} text rows, "
                f"{len(cells)} columns]",
            )
    if attn is not None and grad is not None:
        _check(attn.shape == grad.shape, f"'attn' {list(attn.shape)} and 'grad' {list(grad.shape)} differ")

    scores = row_grad = None
    if "scores" in tensors:
        scores = _tensor(tensors, "scores", 4, floating=True)
        names.add("scores")
        _check(attn is not None and scores.shape == attn.shape, "'scores' do not fit the attention's shape")
    if "row_grad" in tensors:
        row_grad = _tensor(tensors, "row_grad", 3, floating=True)
        names.add("row_grad")
        _check(
            scores is not None and grad is not None and tuple(row_grad.shape) == tuple(scores.shape[:3]),
            "'row_grad' does not fit the scores' [layers, heads, rows]",
        )
    full = _full_matrices(meta, tensors, names, count, gradients == "sequence" and has_grad)
    captured = attn if attn is not None else grad
    chosen: dict[str, list[int] | None] = {}
    for axis, (name, what) in enumerate((("layer_indices", "layer"), ("head_indices", "head"))):
        value = meta.get(name)
        chosen[name] = None if value is None else _ints(value, name, 0)
        if value is not None and captured is not None:
            _check(len(value) == captured.shape[axis], f"{name} does not list one index per captured {what}")

    grad_rows: dict[tuple[int, int], torch.Tensor] = {}
    if "grad_keys" in tensors or "grad_rows" in tensors:
        keys = _tensor(tensors, "grad_keys", 2, floating=False)
        rows = _tensor(tensors, "grad_rows", 4, floating=True)
        names |= {"grad_keys", "grad_rows"}
        _check(gradients == "token" and has_grad, "per-token gradients in a trace not captured so")
        _check(keys.shape[1] == 2 and keys.shape[0] == rows.shape[0], "grad_keys and grad_rows do not fit")
        layers_heads = attn.shape[:2] if attn is not None else rows.shape[1:3]
        _check(
            rows.shape[1:3] == layers_heads and min(layers_heads) > 0 and rows.shape[3] == len(cells),
            f"'grad_rows' {list(rows.shape)} does not fit [keys, layers, heads, {len(cells)} columns]",
        )
        row_of = torch.full((count,), -1, dtype=torch.long)
        row_of[~is_image if kept_rows is None else kept_rows] = torch.arange(text_rows)
        for (position, row), values in zip(keys.tolist(), rows, strict=True):
            _check(0 < position < count, f"a per-token gradient for position {position}, outside the sequence")
            _check(
                row >= 0 and row in (int(row_of[position]), int(row_of[position - 1])),
                f"a per-token gradient on row {row}, not that of position {position} or the one before",
            )
            _check((position, row) not in grad_rows, f"two per-token gradients for ({position}, {row})")
            grad_rows[(position, row)] = values

    layouts = []
    pictures = []
    valid = cells | (set() if cross else set(image_positions.tolist()))
    for i, entry in enumerate(_field(meta, "layouts", list)):
        _check(type(entry) is dict, f"layouts[{i}] is not an object")
        size = _field(entry, "size", list)
        _check(len(size) == 2 and all(_is_int(v) and v > 0 for v in size), f"layouts[{i}].size must be [width, height]")
        extra = _ints(_field(entry, "extra_positions", list), f"layouts[{i}].extra_positions")
        _check(set(extra) <= valid, f"layouts[{i}].extra_positions has positions that are not image positions")
        views = []
        for j, view in enumerate(_field(entry, "views", list)):
            _check(type(view) is dict, f"layouts[{i}].views[{j}] is not an object")
            name = _field(view, "name", str)
            box = _field(view, "box", list)
            _check(
                len(box) == 4 and all(type(b) in (int, float) and math.isfinite(b) for b in box),
                f"layouts[{i}].views[{j}].box must be four finite numbers",
            )
            positions = _tensor(tensors, f"view_{i}_{j}", 2, floating=False)
            names.add(f"view_{i}_{j}")
            _check(
                positions.numel() > 0 and set(positions.flatten().tolist()) <= cells,
                f"the positions of layouts[{i}].views[{j}] are not image columns",
            )
            views.append(View(name=name, positions=positions, box=(box[0], box[1], box[2], box[3])))
        _check(bool(views), f"layouts[{i}] has no view")
        layouts.append(ImageLayout(views=tuple(views), size=(size[0], size[1]), extra_positions=tuple(extra)))
        _check(f"picture_{i}" in tensors, f"picture {i} is missing")
        picture = tensors[f"picture_{i}"]
        _check(
            picture.dtype == torch.uint8 and picture.dim() == 3 and picture.shape[2] == 3,
            f"picture {i} is not an RGB uint8 [height, width, 3] tensor: {picture.dtype} {list(picture.shape)}",
        )
        names.add(f"picture_{i}")
        pictures.append(Image.fromarray(picture.numpy()))
    _check(bool(layouts), "'layouts' is empty: the trace has no image")
    if cross:  # the image reaches the text through cross-attention; the sequence holds one placeholder per image
        _check(len(image_positions) == len(layouts), "cross_attention, but not one image token per image")
    unexpected = sorted(set(tensors) - names)
    _check(not unexpected, f"tensors {unexpected} belong to no field of the trace")
    return Trace(
        token_ids=token_ids,
        gen_start=gen_start,
        image_token_id=image_token_id,
        image_layouts=layouts,
        images=pictures,
        attn=attn,
        grad=grad,
        gradients=gradients,
        columns=columns if cross else None,
        token_strings=token_strings,
        special_mask=special_mask,
        grad_rows=grad_rows,
        grads_captured=has_grad,
        scores=scores,
        row_grad=row_grad,
        full=full,
        layer_indices=chosen["layer_indices"],
        head_indices=chosen["head_indices"],
        rows=kept_rows,
    )


def _full_matrices(
    meta: dict[str, Any], tensors: dict[str, torch.Tensor], names: set[str], count: int, sequence: bool
) -> FullMatrices | None:
    """The whole attention matrices (and whole-sequence gradients) of a trace, if it kept them."""
    kinds = meta.get("full_kinds")
    if kinds is None:
        _check(not any(k.startswith("full_") for k in tensors), "whole matrices without their 'full_kinds'")
        return None
    _check(type(kinds) is list and all(k in ("self", "cross") for k in kinds), "'full_kinds' must list 'self'/'cross'")
    attn, grads = [], []
    for k, kind in enumerate(kinds):
        matrix = _tensor(tensors, f"full_attn_{k}", 3, floating=True)
        names.add(f"full_attn_{k}")
        _check(
            matrix.shape[1] == count and (kind == "cross" or matrix.shape[2] == count), f"full_attn_{k} does not fit"
        )
        attn.append(matrix)
        if sequence:
            gradient = _tensor(tensors, f"full_grad_{k}", 3, floating=True)
            names.add(f"full_grad_{k}")
            _check(gradient.shape == matrix.shape, f"full_grad_{k} does not fit full_attn_{k}")
            grads.append(gradient)
    return FullMatrices(attn=attn, kinds=list(kinds), grad=grads if sequence else None)
