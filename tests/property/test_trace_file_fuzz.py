"""Damaged trace files: every one must raise ValueError naming the file, never load as a wrong trace.

One valid file is captured from the tiny zoo per module (attention, per-token gradient rows, one picture);
the cases below break it at the byte level (random bytes, truncation at each part of the layout, bit flips) and
at the field level (a metadata field of the wrong JSON type, a tensor of the wrong shape or dtype), re-writing
the checksum in the second case so that the loader's own checks are what must catch it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cases import Case
from vl_saliency_widget import SaliencyExtractor, Trace
from vl_saliency_widget.core.storage import read_trace_file, write_trace_file


def fuzz(examples: int) -> settings:
    """Hypothesis settings for a fuzz test; tmp_path is shared by its examples, each overwriting the file."""
    return settings(max_examples=examples, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, qwen_case: Case) -> Path:
    model, processor, image = qwen_case.model, qwen_case.processor, qwen_case.image
    trace = SaliencyExtractor(model, processor).capture(
        **qwen_case.inputs, generated_ids=qwen_case.generated, images=[image]
    )
    trace.maps(trace.text_positions[-2:], "grad")  # per-token gradient rows go into the file
    path = tmp_path_factory.mktemp("fuzz") / "trace.safetensors"
    trace.save(path)
    return path


@pytest.fixture(scope="module")
def parts(saved: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    return read_trace_file(saved)


def _refused(path: Path, pattern: str = "") -> str:
    with pytest.raises(ValueError) as caught:
        Trace.load(path)
    message = str(caught.value)
    assert str(path) in message, f"the error does not name the file: {message}"
    assert pattern.lower() in message.lower(), f"{pattern!r} not in {message!r}"
    return message


def _write_bytes(data: bytes, tmp_path: Path, name: str = "broken.safetensors") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_valid_file_loads(saved: Path) -> None:
    loaded = Trace.load(saved)
    assert loaded.modes == ("attn", "grad") and loaded.data.token_grads


@fuzz(40)
@given(data=st.binary(max_size=2048), declared=st.one_of(st.none(), st.integers(0, 2**64 - 1)))
def test_random_bytes_are_refused(tmp_path: Path, data: bytes, declared: int | None) -> None:
    """Anything, or anything behind a plausible header length (so the parser reads past the first 8 bytes)."""
    prefix = b"" if declared is None else struct.pack("<Q", min(declared, len(data)) if declared % 2 else declared)
    _refused(_write_bytes(prefix + data, tmp_path))


def _cut_points(data: bytes) -> dict[str, int]:
    """One cut in each part of a safetensors file: length prefix, header JSON, each tensor's bytes."""
    header_len = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + header_len])
    cuts = {"empty": 0, "inside the length prefix": 5, "after the length prefix": 8}
    cuts |= {"inside the header": 8 + header_len // 2, "before the header's last byte": 8 + header_len - 1}
    cuts["after the header"] = 8 + header_len
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, stop = entry["data_offsets"]
        if stop > start:
            cuts[f"inside {name}"] = 8 + header_len + (start + stop) // 2
    cuts["before the last byte"] = len(data) - 1
    return cuts


def test_truncation_anywhere_is_refused(saved: Path, tmp_path: Path) -> None:
    data = saved.read_bytes()
    cuts = _cut_points(data)
    assert len(cuts) > 10
    for where, cut in cuts.items():
        path = _write_bytes(data[:cut], tmp_path, f"cut-{cut}.safetensors")
        message = _refused(path)
        assert "truncated" in message or "corrupted" in message, f"cut {where}: {message}"


def test_trailing_bytes_are_refused(saved: Path, tmp_path: Path) -> None:
    _refused(_write_bytes(saved.read_bytes() + b"\0" * 16, tmp_path))


@fuzz(60)
@given(where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7), in_header=st.booleans())
def test_a_flipped_bit_is_refused(saved: Path, tmp_path: Path, where: float, bit: int, in_header: bool) -> None:
    """In the length prefix, the header (tensor table and metadata JSON) or the tensor bytes."""
    data = bytearray(saved.read_bytes())
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    index = int(where * header_end) if in_header else header_end + int(where * (len(data) - header_end))
    data[index] ^= 1 << bit
    _refused(_write_bytes(bytes(data), tmp_path))


def _rewritten(parts: tuple[dict[str, Any], dict[str, torch.Tensor]], tmp_path: Path, **changes: Any) -> Path:
    """The valid trace with metadata fields or tensors replaced (a tensor set to None is removed), checksum renewed."""
    meta, tensors = json.loads(json.dumps(parts[0])), dict(parts[1])
    for key, value in changes.items():
        if key.startswith("tensor_"):
            name = key.removeprefix("tensor_")
            if value is None:
                del tensors[name]
            else:
                tensors[name] = value(tensors[name]) if callable(value) else value
        else:
            value = value(meta) if callable(value) else value
            if value is None:
                del meta[key]
            else:
                meta[key] = value
    path = tmp_path / "rewritten.safetensors"
    write_trace_file(path, tensors, meta)
    return path


WRONG_TYPES = ["3", 3.0, True, None, [], {}, [[1]], "token"]
FIELDS = [
    "token_ids",
    "token_strings",
    "special_mask",
    "gen_start",
    "image_token_id",
    "gradients",
    "has_grad",
    "cross_attention",
    "layouts",
]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
def test_a_metadata_field_of_the_wrong_json_type_is_refused(
    parts: tuple[dict[str, Any], dict[str, torch.Tensor]], tmp_path: Path, field: str, value: Any
) -> None:
    if value is None:
        path = _rewritten(parts, tmp_path, **{field: None})  # the field is missing
    elif json.dumps(value) == json.dumps(parts[0][field]):
        pytest.skip("the same value as the valid file")
    else:
        path = _rewritten(parts, tmp_path, **{field: lambda meta: value})
    _refused(path, field if value is not None else "")


def _set_item(meta: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    target: Any = meta
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return meta


NESTED = [
    ("a token id as a string", ("token_ids", 0), "5"),
    ("a negative token id", ("token_ids", 0), -1),
    ("a token id past int64", ("token_ids", 0), 2**64),
    ("a token string as a number", ("token_strings", 0), 7),
    ("a special flag as 0", ("special_mask", 0), 0),
    ("a layout as a list", ("layouts", 0), []),
    ("a size of three numbers", ("layouts", 0, "size"), [1, 2, 3]),
    ("a size as floats", ("layouts", 0, "size"), [32.0, 32.0]),
    ("an extra position as a string", ("layouts", 0, "extra_positions"), ["4"]),
    ("an extra position on a text token", ("layouts", 0, "extra_positions"), [0]),
    ("a view name as a number", ("layouts", 0, "views", 0, "name"), 3),
    ("a box of three numbers", ("layouts", 0, "views", 0, "box"), [0, 0, 1]),
    ("a box with a string", ("layouts", 0, "views", 0, "box"), [0, 0, 1, "2"]),
    ("a box with NaN", ("layouts", 0, "views", 0, "box"), [0, 0, float("nan"), 1]),
    ("a view as a string", ("layouts", 0, "views", 0), "base"),
    ("no views", ("layouts", 0, "views"), []),
    ("gen_start past the tokens", ("gen_start",), 10_000),
    ("a negative gen_start", ("gen_start",), -1),
    ("an unknown gradients option", ("gradients",), "layer"),
    ("sequence gradients without the gradient", ("gradients",), "sequence"),
    ("another image token id", ("image_token_id",), 0),
    ("one token fewer", ("token_ids",), lambda ids: ids[:-1]),
    ("a text token made an image token", ("token_ids", 0), lambda first, meta: meta["image_token_id"]),
    ("no layouts", ("layouts",), []),
    ("cross-attention columns claimed", ("cross_attention",), True),
    ("the gradient flag off with gradient rows", ("has_grad",), False),
    ("metadata as a list", (), [1, 2]),
]


@pytest.mark.parametrize(("what", "where", "value"), NESTED, ids=[row[0] for row in NESTED])
def test_a_wrong_value_inside_the_metadata_is_refused(
    parts: tuple[dict[str, Any], dict[str, torch.Tensor]], tmp_path: Path, what: str, where: tuple[Any, ...], value: Any
) -> None:
    meta, tensors = json.loads(json.dumps(parts[0])), dict(parts[1])
    if not where:
        meta = value
    elif callable(value):
        current: Any = meta
        for key in where:
            current = current[key]
        new = value(current) if value.__code__.co_argcount == 1 else value(current, meta)
        _set_item(meta, where, new)
    else:
        _set_item(meta, where, value)
    path = tmp_path / "nested.safetensors"
    write_trace_file(path, tensors, meta)
    _refused(path)


TENSORS = [
    ("attention as integers", "attn", lambda t: t.long()),
    ("attention with one row fewer", "attn", lambda t: t[:, :, :-1]),
    ("attention with one column more", "attn", lambda t: torch.cat([t, t[..., :1]], dim=-1)),
    ("attention of rank 3", "attn", lambda t: t[0]),
    ("attention with no layer", "attn", lambda t: t[:0]),
    ("columns as floats", "columns", lambda t: t.float()),
    ("columns shifted", "columns", lambda t: t + 1),
    ("a view as floats", "view_0_0", lambda t: t.float()),
    ("a view of rank 1", "view_0_0", lambda t: t.flatten()),
    ("a view on text positions", "view_0_0", lambda t: t * 0),
    ("an empty view", "view_0_0", lambda t: t[:0]),
    ("a picture as floats", "picture_0", lambda t: t.float()),
    ("a greyscale picture", "picture_0", lambda t: t[..., :1]),
    ("gradient rows as float on keys", "grad_keys", lambda t: t.float()),
    ("a gradient row for a position outside the sequence", "grad_keys", lambda t: t + 10_000),
    ("a gradient row on another row", "grad_keys", lambda t: t * torch.tensor([1, 0])),
    ("a duplicated gradient key", "grad_keys", lambda t: t[:1].expand_as(t).clone()),
    ("gradient rows of other heads", "grad_rows", lambda t: t[:, :, :1]),
    ("gradient rows without keys", "grad_keys", None),
    ("no columns", "columns", None),
    ("no view", "view_0_0", None),
    ("no picture", "picture_0", None),
    ("a whole-sequence gradient in a per-token trace", "grad", lambda _: torch.zeros(1)),
    ("a stray tensor", "weights", lambda _: torch.zeros(2)),
]


@pytest.mark.parametrize(("what", "name", "change"), TENSORS, ids=[row[0] for row in TENSORS])
def test_a_tensor_that_does_not_fit_the_metadata_is_refused(
    parts: tuple[dict[str, Any], dict[str, torch.Tensor]], tmp_path: Path, what: str, name: str, change: Any
) -> None:
    meta, tensors = parts[0], dict(parts[1])
    if change is None:
        del tensors[name]
    else:
        tensors[name] = change(tensors.get(name))
    path = tmp_path / "tensors.safetensors"
    write_trace_file(path, tensors, meta)
    _refused(path)


def test_the_checksum_catches_a_consistent_change(
    parts: tuple[dict[str, Any], dict[str, torch.Tensor]], saved: Path, tmp_path: Path
) -> None:
    """A changed attention value or token string still makes a well-formed trace; only the checksum tells."""
    from safetensors.torch import save_file

    meta, tensors = parts
    changed = dict(tensors, attn=tensors["attn"] * 2)
    header = {"vl_saliency_trace": json.dumps(meta), "vl_saliency_trace_sha256": "0" * 64}
    save_file(changed, str(tmp_path / "edited.safetensors"), metadata=header)
    _refused(tmp_path / "edited.safetensors", "checksum")
