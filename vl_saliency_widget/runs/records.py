"""The samples of a run: records with an id, pictures, a question or a chat, and optional answer, boxes and metadata.

A record is a mapping (a dict, a JSON line, a row of a Hugging Face ``datasets.Dataset``) with the fields:

- ``id``: a string or an integer, unique in the run (default: the record's index in the samples);
- ``image`` (one picture) or ``images`` (several, in prompt order): a ``PIL.Image``, a path (relative paths are read
  from the folder of the JSON-lines file, or ``base``), or ``{"bytes": ..., "path": ...}`` as ``datasets`` stores
  pictures;
- ``question``: the user's text, put after the pictures in one user turn; or ``messages``: a whole chat for the
  processor's chat template, whose ``{"type": "image"}`` items take their picture from the item's ``"image"`` (a
  picture or a path) or else, in order, from ``image``/``images``;
- ``answer`` (optional): the answer to map, teacher forced instead of generated;
- ``box`` (optional): ``[left, top, right, bottom]`` in picture pixels (right and bottom exclusive), or ``boxes``: a
  list of them, the target being their union; on the first picture, or on picture ``box_image``;
- any other field: metadata, carried along into the run's summary.
"""

from __future__ import annotations

import copy
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

SampleId = str | int
"""A sample's id: a string or an integer (JSON keeps which)."""

Box = tuple[float, float, float, float]
"""(left, top, right, bottom) in picture pixels."""

FIELDS = frozenset({"id", "image", "images", "question", "messages", "answer", "box", "boxes", "box_image"})
"""The fields a record's sample is made of; every other field is metadata."""


DEFAULT_METHODS: tuple[str, ...] = ("attn", "gradcam")
"""Precomputed by default: attention and Grad-CAM of every answer token (Grad-CAM costs one backward pass per
token with per-token gradients)."""


@dataclass
class Prepared:
    """One record made ready for the model.

    Attributes:
        id: the sample's id.
        images: the pictures, RGB, in prompt order.
        messages: the chat for ``processor.apply_chat_template``, every image item holding its picture.
        question: the user's text (for ``messages``: the text of the last user turn).
        answer: the answer to teacher-force, or None to generate one.
        boxes: the target boxes, on picture ``box_image``.
        box_image: the picture the boxes are on.
    """

    id: SampleId
    images: list[Image.Image]
    messages: list[dict[str, Any]]
    question: str | None
    answer: str | None
    boxes: list[Box] = field(default_factory=list)
    box_image: int = 0


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file, one JSON object a line (blank lines skipped).

    Raises:
        ValueError: a line is not a JSON object (its line number is given).
    """
    records = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise ValueError(f"{path}, line {number}: not JSON ({error}).") from error
        if not isinstance(record, dict):
            raise ValueError(f"{path}, line {number}: a record must be a JSON object, not {type(record).__name__}.")
        records.append(record)
    return records


def write_jsonl(records: Iterable[Mapping[str, Any]], path: str | Path, *, image_folder: str = "images") -> Path:
    """Write ``records`` as a JSON-lines samples file at ``path``; in-memory pictures go to PNG files in
    ``image_folder`` beside it, named by the record's id, and the lines hold their relative paths.

    Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, record in enumerate(records):
        line = dict(record)
        stem = _safe_stem(line.get("id", index))
        for key in ("image", "images"):
            if key not in line:
                continue
            pictures = line[key] if key == "images" else [line[key]]
            names = []
            for k, picture in enumerate(pictures):
                if isinstance(picture, Image.Image):
                    relative = Path(image_folder) / (f"{stem}.png" if key == "image" else f"{stem}-{k}.png")
                    (path.parent / relative).parent.mkdir(parents=True, exist_ok=True)
                    picture.save(path.parent / relative)
                    names.append(relative.as_posix())
                else:
                    names.append(str(picture))
            line[key] = names if key == "images" else names[0]
        lines.append(json.dumps(json_safe(line)))
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def _safe_stem(sample_id: Any) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(sample_id))[:80] or "sample"


class Samples:
    """Indexed access to a run's samples, whatever they came as.

    Args:
        samples: a path to a JSON-lines file; a sequence (a list, a ``datasets.Dataset``), read by index, one record
            at a time; or any other iterable of records, read once into a list (pass pictures as paths to keep
            that small).
        base: the folder relative picture paths are read from; default: the JSON-lines file's folder, else the
            working directory.
    """

    def __init__(self, samples: Any, base: str | Path | None = None) -> None:
        if isinstance(samples, (str, Path)):
            self.base = Path(base) if base is not None else Path(samples).resolve().parent
            self._items: Any = read_jsonl(samples)
        else:
            self.base = Path(base) if base is not None else Path.cwd()
            is_sequence = hasattr(samples, "__len__") and hasattr(samples, "__getitem__")
            self._items = samples if is_sequence and not isinstance(samples, Mapping) else list(samples)
        self.ids = self._read_ids()

    def __len__(self) -> int:
        return len(self._items)

    def record(self, index: int) -> Any:
        """The record at ``index`` (for a ``datasets.Dataset``, decoded now)."""
        return self._items[index]

    def _read_ids(self) -> list[SampleId]:
        items = self._items
        columns = getattr(items, "column_names", None)
        if columns is not None:  # a datasets.Dataset: read the id column alone, no picture decoded
            raw = list(items["id"]) if "id" in columns else list(range(len(items)))
        else:
            raw = [item.get("id", index) if isinstance(item, Mapping) else index for index, item in enumerate(items)]
        ids = [as_id(value, index) for index, value in enumerate(raw)]
        seen: set[str] = set()
        repeated = []
        for sample_id in ids:
            key = json.dumps(sample_id)
            if key in seen:
                repeated.append(sample_id)
            seen.add(key)
        if repeated:
            raise ValueError(
                f"Sample ids must be unique; repeated: {repeated[:5]!r}{' ...' if len(repeated) > 5 else ''}."
            )
        return ids


def as_id(value: Any, index: int) -> SampleId:
    """A record's id as a string or an integer: ``None`` gives the record's index, other types their ``str``."""
    if value is None:
        return index
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    item = getattr(value, "item", None)  # numpy and torch integers
    if callable(item):
        value = item()
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return str(value)


def open_picture(value: Any, base: Path) -> Image.Image:
    """An RGB picture from a ``PIL.Image``, a path (relative to ``base``) or ``{"bytes": ..., "path": ...}``; the
    pixels are decoded now, so a broken file fails here.

    Raises:
        TypeError: ``value`` is none of those.
        OSError: the file is missing or not a picture (``PIL.UnidentifiedImageError``).
    """
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    if isinstance(value, Mapping) and (value.get("bytes") is not None or value.get("path") is not None):
        if value.get("bytes") is not None:
            with Image.open(io.BytesIO(value["bytes"])) as picture:
                return picture.convert("RGB")
        value = value["path"]
    if isinstance(value, (str, Path)):
        path = Path(value)
        with Image.open(path if path.is_absolute() else base / path) as picture:
            return picture.convert("RGB")
    raise TypeError(f"A picture must be a PIL image, a path or {{'bytes': ...}}, not {type(value).__name__}.")


def _box(value: Any) -> Box:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 4:
        raise ValueError(f"A box is [left, top, right, bottom] in picture pixels, not {value!r}.")
    numbers = [float(v) for v in value]
    if not all(math.isfinite(v) for v in numbers) or not (numbers[0] < numbers[2] and numbers[1] < numbers[3]):
        raise ValueError(f"Box {list(value)} is empty or not finite: give left < right and top < bottom.")
    return numbers[0], numbers[1], numbers[2], numbers[3]


def prepare(record: Any, index: int, base: Path) -> Prepared:
    """Read one record: open its pictures, build its chat, check its boxes.

    Raises:
        TypeError, ValueError, OSError: the record cannot be read (the run records the sample as failed).
    """
    if not isinstance(record, Mapping):
        raise TypeError(
            f"A sample must be a mapping of fields (id, image, question, ...), not {type(record).__name__}."
        )
    sample_id = as_id(record.get("id"), index)
    if "images" in record and record["images"] is not None:
        if isinstance(record["images"], (str, bytes, Mapping)) or not isinstance(record["images"], Iterable):
            raise TypeError("'images' must be a list of pictures; use 'image' for one.")
        given = [open_picture(value, base) for value in record["images"]]
    elif record.get("image") is not None:
        given = [open_picture(record["image"], base)]
    else:
        given = []
    if record.get("messages") is not None:
        messages, images = _chat(record["messages"], given, base)
        question = _last_user_text(messages)
    else:
        question = record.get("question")
        if not isinstance(question, str):
            raise ValueError(
                f"Sample {sample_id!r} needs a 'question' (text) or 'messages' (a chat), not {type(question).__name__}."
            )
        content = [{"type": "image", "image": picture} for picture in given] + [{"type": "text", "text": question}]
        messages, images = [{"role": "user", "content": content}], given
    answer = record.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise ValueError(f"Sample {sample_id!r}: 'answer' must be text, not {type(answer).__name__}.")
    if record.get("boxes") is not None:
        boxes = [_box(value) for value in record["boxes"]]
    elif record.get("box") is not None:
        boxes = [_box(record["box"])]
    else:
        boxes = []
    box_image = record.get("box_image", 0)
    if not isinstance(box_image, int) or isinstance(box_image, bool) or (boxes and not 0 <= box_image < len(images)):
        raise ValueError(f"Sample {sample_id!r}: box_image={box_image!r} is not one of its {len(images)} pictures.")
    return Prepared(sample_id, images, messages, question, answer, boxes, box_image)


def _chat(messages: Any, given: list[Image.Image], base: Path) -> tuple[list[dict[str, Any]], list[Image.Image]]:
    """A copy of ``messages`` whose image items hold their pictures, and the pictures in prompt order."""
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        raise TypeError(f"'messages' must be a list of chat turns, not {type(messages).__name__}.")
    chat = [dict(turn) if isinstance(turn, Mapping) else turn for turn in messages]
    pending = list(given)
    images = []
    for turn in chat:
        content = turn.get("content") if isinstance(turn, dict) else None
        if not isinstance(content, list):
            continue
        items = []
        for item in content:
            item = dict(item) if isinstance(item, Mapping) else copy.copy(item)
            if isinstance(item, dict) and item.get("type") == "image":
                if item.get("image") is not None:
                    item["image"] = open_picture(item["image"], base)
                elif pending:
                    item["image"] = pending.pop(0)
                else:
                    raise ValueError("The chat has more image items than the sample has pictures.")
                images.append(item["image"])
            items.append(item)
        turn["content"] = items
    if pending:
        raise ValueError(f"The sample has {len(pending)} more picture(s) than the chat has image items.")
    return chat, images


def _last_user_text(messages: list[dict[str, Any]]) -> str | None:
    for turn in reversed(messages):
        if not isinstance(turn, Mapping) or turn.get("role") != "user":
            continue
        content = turn.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(
                str(i.get("text", "")) for i in content if isinstance(i, Mapping) and i.get("type") == "text"
            )
    return None


def metadata(record: Any) -> dict[str, Any]:
    """The fields of ``record`` that are not the sample's (JSON-safe), and its picture paths (``image``/``images``,
    None for in-memory pictures)."""
    if not isinstance(record, Mapping):
        return {}
    out = {str(key): json_safe(value) for key, value in record.items() if key not in FIELDS}
    for key in ("image", "images"):
        if key in record:
            out[key] = json_safe(record[key])
    return out


def json_safe(value: Any) -> Any:
    """``value`` as JSON can hold it: containers recursively, numbers and strings as they are, numpy and torch
    scalars as Python numbers, paths as strings, pictures as None, anything else as its ``str``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Image.Image):
        return None
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, Mapping):
        if value.get("bytes") is not None or value.get("path") is not None:  # a datasets picture
            return value.get("path")
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 1) == 0:
        return json_safe(item())
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return json_safe(tolist())
    return str(value)


def toy_records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` records of the toy task (``demo.toy_samples(n, seed)``): ids ``"toy-<seed>-<i>"``, the picture, the
    question, the queried shape's box, and the expected answer as metadata (``expected``; the model's answer is
    generated)."""
    from ..demo.data import toy_samples

    return [
        {
            "id": f"toy-{seed}-{index}",
            "image": sample.image,
            "question": sample.question,
            "box": list(sample.box),
            "expected": sample.answer,
        }
        for index, sample in enumerate(toy_samples(n, seed))
    ]
