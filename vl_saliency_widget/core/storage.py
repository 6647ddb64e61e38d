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
  per-token trace saved before any was computed says so though it holds none), whether columns are
  cross-attention keys, each image's layout (view names and boxes, frame size, extra positions), and
  ``layer_indices`` / ``head_indices`` (the model's index of each captured layer and head, null for all),
  ``inputs`` (the names of the capture's processor inputs, kept as tensors ``input_<name>``, null when not kept)
  and ``perturbations`` (the keys of the perturbation tables, kept as ``perturbation_<k>`` in that order: [T, rows,
  cols] maps of occlusion and RISE, [2, T] log-probabilities of reliance); with ``text_columns=True``, tensors
  ``text_columns`` [Tt] (the text positions), ``text_attn`` and ``text_grad`` [L, H, R, Tt] (whole-sequence
  gradients; per-token ones are not kept).
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
from .gradients import WholeMatrices
from .record import TraceData

FORMAT_VERSION = 5
"""Version 2 added the checksum, version 3 the methods' scores and whole matrices, version 4 ``rows``,
``layer_indices``, ``head_indices`` and ``has_grad`` (some version-3 files have them too), version 5 the capture's
processor inputs and the perturbation tables; older files still load, a missing ``has_grad`` read from the
tensors, missing indices as "all", no inputs (such a trace cannot run its model again)."""
METADATA_KEY = "vl_saliency_trace"
CHECKSUM_KEY = "vl_saliency_trace_sha256"


def save_trace_data(data: TraceData, path: Path) -> None:
    """Write ``data`` to ``path`` (see the module docstring for the layout); its token strings and special mask must
    be filled in."""
    if data.token_strings is None or data.special_mask is None:
        raise ValueError("A trace is saved with its token strings and special-token mask (Trace.save fills them in).")
    tensors: dict[str, torch.Tensor] = {}
    if data.columns is not None:
        tensors["columns"] = data.columns
    else:
        tensors["columns"] = torch.nonzero(torch.tensor(data.token_ids) == data.image_token_id).flatten()
    if data.rows is not None:
        tensors["rows"] = data.rows
    optional = {
        "attn": data.attn,
        "grad": data.grad,
        "scores": data.scores,
        "row_grad": data.score_row_grad,
        "text_columns": data.text_columns,
        "text_attn": data.text_attn,
        "text_grad": data.text_grad,
    }
    tensors |= {name: value for name, value in optional.items() if value is not None}
    if data.token_grads:
        keys = sorted(data.token_grads)
        tensors["grad_keys"] = torch.tensor(keys, dtype=torch.long)
        tensors["grad_rows"] = torch.stack([data.token_grads[k] for k in keys])
    if data.matrices is not None:
        tensors |= {f"full_attn_{k}": matrix for k, matrix in enumerate(data.matrices.attn)}
        tensors |= {f"full_grad_{k}": matrix for k, matrix in enumerate(data.matrices.grad or [])}
    layouts = []
    for i, layout in enumerate(data.image_layouts):
        tensors |= {f"view_{i}_{j}": view.positions for j, view in enumerate(layout.views)}
        layouts.append(
            {
                "size": list(layout.size),
                "extra_positions": list(layout.extra_positions),
                "views": [{"name": v.name, "box": [float(b) for b in v.box]} for v in layout.views],
            }
        )
    for i, picture in enumerate(data.images):
        tensors[f"picture_{i}"] = torch.from_numpy(np.asarray(picture.convert("RGB"), dtype=np.uint8).copy())
    inputs = sorted(data.inputs or {})
    tensors |= {f"input_{name}": (data.inputs or {})[name] for name in inputs}
    perturbations = sorted(data.perturbations)
    tensors |= {f"perturbation_{k}": data.perturbations[name] for k, name in enumerate(perturbations)}
    metadata = {
        "format_version": FORMAT_VERSION,
        "token_ids": data.token_ids,
        "token_strings": data.token_strings,
        "special_mask": data.special_mask,
        "gen_start": data.gen_start,
        "image_token_id": data.image_token_id,
        "gradients": data.gradients,
        "has_grad": data.has_grad,
        "cross_attention": data.columns is not None,
        "layouts": layouts,
        "full_kinds": list(data.matrices.kinds) if data.matrices is not None else None,
        "layer_indices": data.layer_indices,
        "head_indices": data.head_indices,
        "inputs": inputs if data.inputs is not None else None,
        "perturbations": perturbations,
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


def load_trace_data(path: Path) -> TraceData:
    """Read a trace written by ``save_trace_data``, checking that every field fits the others.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a trace, is truncated, corrupted or inconsistent, or is of a newer format.
    """
    meta, tensors = read_trace_file(path)
    try:
        return _Reader(meta, tensors).data()
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


class _Reader:
    """Reads a trace file's metadata and tensors into a TraceData, one field at a time, checking each against
    what was read before it; every tensor read is claimed, and an unclaimed one makes the file inconsistent."""

    def __init__(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.meta = meta
        self.tensors = tensors
        self.claimed: set[str] = set()

    def tensor(self, name: str, dims: int, floating: bool) -> torch.Tensor:
        """The tensor ``name``, claimed, checked to have ``dims`` dimensions and a float (or int64) dtype."""
        _check(name in self.tensors, f"the tensor {name!r} is missing")
        tensor = self.tensors[name]
        kind = "a floating" if floating else "an int64"
        _check(
            tensor.dim() == dims and (tensor.is_floating_point() if floating else tensor.dtype == torch.long),
            f"{name!r} must be {kind} tensor with {dims} dimensions, got {tensor.dtype} {list(tensor.shape)}",
        )
        self.claimed.add(name)
        return tensor

    def optional(self, name: str, dims: int) -> torch.Tensor | None:
        """The floating tensor ``name`` if the file has it."""
        return self.tensor(name, dims, floating=True) if name in self.tensors else None

    def data(self) -> TraceData:
        meta = self.meta
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
            has_grad = "grad" in self.tensors or "grad_rows" in self.tensors
        cross = _field(meta, "cross_attention", bool)
        is_image = torch.tensor(token_ids) == image_token_id
        rows = self.rows(is_image)
        text_rows = int((~is_image).sum()) if rows is None else rows.numel()
        columns = self.columns(cross, is_image)
        attn, grad = self.captured(gradients == "sequence" and has_grad, text_rows, columns.numel())
        scores, row_grad = self.score_data(attn, grad)
        matrices = self.matrices(count, gradients == "sequence" and has_grad)
        captured = attn if attn is not None else grad
        layer_indices, head_indices = (
            self.indices(name, what, axis, captured)
            for axis, (name, what) in enumerate((("layer_indices", "layer"), ("head_indices", "head")))
        )
        text = self.text_data(is_image, attn, grad)
        inputs = self.inputs()
        if inputs is not None:
            prompt = inputs["input_ids"][0].tolist()
            _check(prompt == token_ids[: len(prompt)], "'input_ids' is not the start of token_ids")
        perturbations = self.perturbations(count)
        token_grads = self.token_grads(gradients == "token" and has_grad, attn, is_image, rows, columns.numel())
        cells = set(columns.tolist())
        image_positions = set() if cross else set(torch.nonzero(is_image).flatten().tolist())
        layouts, pictures = self.layouts(cells | image_positions, cells)
        if cross:  # the image reaches the text through cross-attention; the sequence holds one placeholder per image
            _check(int(is_image.sum()) == len(layouts), "cross_attention, but not one image token per image")
        unexpected = sorted(set(self.tensors) - self.claimed)
        _check(not unexpected, f"tensors {unexpected} belong to no field of the trace")
        return TraceData(
            token_ids=token_ids,
            gen_start=gen_start,
            image_token_id=image_token_id,
            image_layouts=layouts,
            images=pictures,
            gradients=gradients,
            has_grad=has_grad,
            attn=attn,
            grad=grad,
            token_grads=token_grads,
            scores=scores,
            score_row_grad=row_grad,
            matrices=matrices,
            columns=columns if cross else None,
            rows=rows,
            layer_indices=layer_indices,
            head_indices=head_indices,
            token_strings=token_strings,
            special_mask=special_mask,
            inputs=inputs,
            perturbations=perturbations,
            text_columns=text[0],
            text_attn=text[1],
            text_grad=text[2],
        )

    def text_data(
        self, is_image: torch.Tensor, attn: torch.Tensor | None, grad: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """The text columns kept for attribution to the text: positions [Tt], attention and the whole-sequence
        gradient on them [layers, heads, rows, Tt], shaped as the image columns' are."""
        if "text_columns" not in self.tensors:
            _check(
                "text_attn" not in self.tensors and "text_grad" not in self.tensors, "text columns without positions"
            )
            return None, None, None
        columns = self.tensor("text_columns", 1, floating=False)
        _check(torch.equal(columns, torch.nonzero(~is_image).flatten()), "text_columns are not the text positions")
        text_attn, text_grad = self.optional("text_attn", 4), self.optional("text_grad", 4)
        for name, values, like in (("text_attn", text_attn, attn), ("text_grad", text_grad, grad)):
            if values is not None:
                _check(
                    like is not None and tuple(values.shape) == (*like.shape[:3], columns.numel()),
                    f"{name!r} does not fit [layers, heads, rows, {columns.numel()} text columns]",
                )
        return columns, text_attn, text_grad

    def inputs(self) -> dict[str, torch.Tensor] | None:
        """The capture's processor inputs (``input_ids`` among them), if the file keeps them."""
        names = self.meta.get("inputs")
        if names is None:
            return None
        _check(
            type(names) is list and all(type(n) is str for n in names) and "input_ids" in names,
            "'inputs' must list the processor inputs' names, input_ids included",
        )
        out = {}
        for name in names:
            _check(f"input_{name}" in self.tensors, f"the input {name!r} is missing")
            self.claimed.add(f"input_{name}")
            out[name] = self.tensors[f"input_{name}"]
        ids = out["input_ids"]
        _check(ids.dtype == torch.long and ids.dim() == 2 and ids.shape[0] == 1, "'input_ids' must be int64 [1, P]")
        return out

    def perturbations(self, count: int) -> dict[str, torch.Tensor]:
        """The perturbation tables by key: [count, rows, cols] maps, or [2, count] log-probabilities (reliance)."""
        keys = self.meta.get("perturbations", [])
        _check(type(keys) is list and all(type(k) is str for k in keys), "'perturbations' must list keys")
        out = {}
        for k, key in enumerate(keys):
            table = self.tensor(f"perturbation_{k}", 2 if key.startswith("reliance") else 3, floating=True)
            shape_ok = table.shape == (2, count) if key.startswith("reliance") else table.shape[0] == count
            _check(shape_ok, f"the perturbation table {key!r} does not fit the {count} tokens")
            out[key] = table
        return out

    def rows(self, is_image: torch.Tensor) -> torch.Tensor | None:
        """The captured query positions of a capture that kept only some text rows (rows="answer"), else None."""
        if "rows" not in self.tensors:
            return None
        rows = self.tensor("rows", 1, floating=False)
        _check(
            rows.numel() > 0
            and bool((rows.diff() > 0).all())
            and int(rows.min()) >= 0
            and int(rows.max()) < len(is_image)
            and not bool(is_image[rows].any()),
            "'rows' must be increasing text positions of the sequence",
        )
        return rows

    def columns(self, cross: bool, is_image: torch.Tensor) -> torch.Tensor:
        """The key index of each captured column: the image positions, or increasing cross-attention keys."""
        columns = self.tensor("columns", 1, floating=False)
        if cross:
            _check(
                columns.numel() > 0 and bool((columns >= 0).all()) and bool((columns.diff() > 0).all()),
                "cross-attention columns must be increasing non-negative key indices",
            )
        else:
            _check(torch.equal(columns, torch.nonzero(is_image).flatten()), "columns are not the image-token positions")
        _check(columns.numel() > 0, "the trace has no image columns")
        return columns

    def captured(self, sequence: bool, rows: int, columns: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Attention and the whole-sequence gradient, each [layers, heads, rows, columns] if the file has it."""
        attn, grad = self.optional("attn", 4), self.optional("grad", 4)
        if grad is not None:
            _check(sequence, "a whole-sequence gradient in a trace not captured so")
        if sequence:
            _check(grad is not None, "the whole-sequence gradient is missing")
        for name, values in (("attn", attn), ("grad", grad)):
            if values is not None:
                _check(
                    values.shape[0] > 0 and values.shape[1] > 0 and tuple(values.shape[2:]) == (rows, columns),
                    f"{name!r} has shape {list(values.shape)}, not [layers, heads, {rows} text rows, "
                    f"{columns} columns]",
                )
        if attn is not None and grad is not None:
            _check(attn.shape == grad.shape, f"'attn' {list(attn.shape)} and 'grad' {list(grad.shape)} differ")
        return attn, grad

    def score_data(
        self, attn: torch.Tensor | None, grad: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Pre-softmax scores (shaped as the attention) and their gradients' row sums [layers, heads, rows]."""
        scores, row_grad = self.optional("scores", 4), self.optional("row_grad", 3)
        if scores is not None:
            _check(attn is not None and scores.shape == attn.shape, "'scores' do not fit the attention's shape")
        if row_grad is not None:
            _check(
                scores is not None and grad is not None and tuple(row_grad.shape) == tuple(scores.shape[:3]),
                "'row_grad' does not fit the scores' [layers, heads, rows]",
            )
        return scores, row_grad

    def matrices(self, count: int, sequence: bool) -> WholeMatrices | None:
        """The whole attention matrices (and whole-sequence gradients) of a trace, if it kept them."""
        kinds = self.meta.get("full_kinds")
        if kinds is None:
            _check(not any(k.startswith("full_") for k in self.tensors), "whole matrices without their 'full_kinds'")
            return None
        _check(
            type(kinds) is list and all(k in ("self", "cross") for k in kinds), "'full_kinds' must list 'self'/'cross'"
        )
        attn, grads = [], []
        for k, kind in enumerate(kinds):
            matrix = self.tensor(f"full_attn_{k}", 3, floating=True)
            _check(
                matrix.shape[1] == count and (kind == "cross" or matrix.shape[2] == count),
                f"full_attn_{k} does not fit",
            )
            attn.append(matrix)
            if sequence:
                gradient = self.tensor(f"full_grad_{k}", 3, floating=True)
                _check(gradient.shape == matrix.shape, f"full_grad_{k} does not fit full_attn_{k}")
                grads.append(gradient)
        return WholeMatrices(attn=attn, kinds=list(kinds), grad=grads if sequence else None)

    def indices(self, name: str, what: str, axis: int, captured: torch.Tensor | None) -> list[int] | None:
        """The model's index of each captured layer or head, one per entry of that axis; None: all."""
        value = self.meta.get(name)
        if value is None:
            return None
        chosen = _ints(value, name, 0)
        if captured is not None:
            _check(len(chosen) == captured.shape[axis], f"{name} does not list one index per captured {what}")
        return chosen

    def token_grads(
        self,
        per_token: bool,
        attn: torch.Tensor | None,
        is_image: torch.Tensor,
        rows: torch.Tensor | None,
        columns: int,
    ) -> dict[tuple[int, int], torch.Tensor]:
        """The per-token gradient rows computed before saving: {(position, row): [layers, heads, columns]}."""
        if "grad_keys" not in self.tensors and "grad_rows" not in self.tensors:
            return {}
        keys = self.tensor("grad_keys", 2, floating=False)
        values = self.tensor("grad_rows", 4, floating=True)
        _check(per_token, "per-token gradients in a trace not captured so")
        _check(keys.shape[1] == 2 and keys.shape[0] == values.shape[0], "grad_keys and grad_rows do not fit")
        layers_heads = attn.shape[:2] if attn is not None else values.shape[1:3]
        _check(
            values.shape[1:3] == layers_heads and min(layers_heads) > 0 and values.shape[3] == columns,
            f"'grad_rows' {list(values.shape)} does not fit [keys, layers, heads, {columns} columns]",
        )
        count = len(is_image)
        text = ~is_image if rows is None else rows
        row_of = torch.full((count,), -1, dtype=torch.long)
        row_of[text] = torch.arange(int(text.sum()) if rows is None else rows.numel())
        out: dict[tuple[int, int], torch.Tensor] = {}
        for (position, row), value in zip(keys.tolist(), values, strict=True):
            _check(0 < position < count, f"a per-token gradient for position {position}, outside the sequence")
            _check(
                row >= 0 and row in (int(row_of[position]), int(row_of[position - 1])),
                f"a per-token gradient on row {row}, not that of position {position} or the one before",
            )
            _check((position, row) not in out, f"two per-token gradients for ({position}, {row})")
            out[(position, row)] = value
        return out

    def layouts(self, valid: set[int], cells: set[int]) -> tuple[list[ImageLayout], list[Image.Image]]:
        """Each image's layout (its views' positions among the captured ``cells``) and picture."""
        layouts, pictures = [], []
        for i, entry in enumerate(_field(self.meta, "layouts", list)):
            _check(type(entry) is dict, f"layouts[{i}] is not an object")
            size = _field(entry, "size", list)
            _check(
                len(size) == 2 and all(_is_int(v) and v > 0 for v in size), f"layouts[{i}].size must be [width, height]"
            )
            extra = _ints(_field(entry, "extra_positions", list), f"layouts[{i}].extra_positions")
            _check(set(extra) <= valid, f"layouts[{i}].extra_positions has positions that are not image positions")
            views = [self.view(i, j, view, cells) for j, view in enumerate(_field(entry, "views", list))]
            _check(bool(views), f"layouts[{i}] has no view")
            layouts.append(ImageLayout(views=tuple(views), size=(size[0], size[1]), extra_positions=tuple(extra)))
            _check(f"picture_{i}" in self.tensors, f"picture {i} is missing")
            picture = self.tensors[f"picture_{i}"]
            _check(
                picture.dtype == torch.uint8 and picture.dim() == 3 and picture.shape[2] == 3,
                f"picture {i} is not an RGB uint8 [height, width, 3] tensor: {picture.dtype} {list(picture.shape)}",
            )
            self.claimed.add(f"picture_{i}")
            pictures.append(Image.fromarray(picture.numpy()))
        _check(bool(layouts), "'layouts' is empty: the trace has no image")
        return layouts, pictures

    def view(self, i: int, j: int, entry: Any, cells: set[int]) -> View:
        """View ``j`` of image ``i``: its name, box and [rows, cols] positions among the captured cells."""
        _check(type(entry) is dict, f"layouts[{i}].views[{j}] is not an object")
        name = _field(entry, "name", str)
        box = _field(entry, "box", list)
        _check(
            len(box) == 4 and all(type(b) in (int, float) and math.isfinite(b) for b in box),
            f"layouts[{i}].views[{j}].box must be four finite numbers",
        )
        positions = self.tensor(f"view_{i}_{j}", 2, floating=False)
        _check(
            positions.numel() > 0 and set(positions.flatten().tolist()) <= cells,
            f"the positions of layouts[{i}].views[{j}] are not image columns",
        )
        return View(name=name, positions=positions, box=(box[0], box[1], box[2], box[3]))
