"""A run on disk: settings, shards of traces, maps and summary rows, and the merged summary.

::

    runs/x/
      run.json                          settings of the run, and counts and timing of the last invocation
      summary.jsonl                     every sample's latest row, in dataset order (merged by the main process)
      shard-0/summary.jsonl             the rows process 0 appended, one JSON line per sample
      shard-0/traces/<name>.safetensors one trace per sample (``Trace.save``'s format)
      shard-0/maps/<name>.safetensors   the sample's precomputed maps
      shard-1/...                       the same for process 1 under ``accelerate launch``

Every file is written under a temporary name in its final folder and renamed into place (``os.replace``), so a
file under its final name is complete. A sample is done when its row is in a shard's ``summary.jsonl``; its row is
appended, in one ``write``, only after its trace and maps are in place. A line cut short by a kill has no newline:
readers skip it and the shard's writer cuts it off before appending.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .records import SampleId

RUN_FILE = "run.json"
SUMMARY_FILE = "summary.jsonl"
SHARD_PREFIX = "shard-"
TEMPORARY = ".tmp"
"""Suffix of files being written (``.<name>.<pid>.tmp``); a leftover one is never read and is removed."""


def file_name(sample_id: SampleId) -> str:
    """A file-system-safe name for a sample: its id's safe characters (80 at most) and a hash of the id, so that
    ids differing only in unsafe characters, or ``1`` and ``"1"``, get different files."""
    text = json.dumps(sample_id)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", str(sample_id))[:80].lstrip(".") or "sample"
    return f"{stem}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def temporary(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place: a hidden name in the same folder."""
    return path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY}")


def write_atomic(path: Path, write: Callable[[Path], None], *, fsync: bool = False) -> None:
    """Call ``write(temporary_path)``, then rename the file to ``path`` (whose folder exists): ``path`` is either
    absent, its old content, or the complete new file, whenever the process is killed. ``fsync``: also flush it to
    the disk first (a power cut then cannot leave a renamed but empty file; a killed process needs no flush)."""
    part = temporary(path)
    try:
        write(part)
        if fsync:
            with open(part, "rb") as f:
                os.fsync(f.fileno())
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    def write(part: Path) -> None:
        part.write_text(text, encoding="utf-8")

    write_atomic(path, write)


def complete_lines(data: bytes) -> list[bytes]:
    """The lines of ``data`` that end with a newline; a last line without one (cut short by a kill) is dropped."""
    end = data.rfind(b"\n")
    return data[: end + 1].splitlines() if end >= 0 else []


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The complete rows of one summary file, in the order written; a line that is not a JSON object warns and is
    skipped (its sample counts as not done)."""
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(complete_lines(path.read_bytes()), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict) or "id" not in row:
            warnings.warn(
                f"{path}, line {number}: not a summary row; skipped (its sample will be redone).", stacklevel=2
            )
            continue
        rows.append(row)
    return rows


def shards(out: Path) -> list[Path]:
    """The shard folders of a run, in process order."""
    found = [p for p in out.glob(f"{SHARD_PREFIX}*") if p.is_dir() and p.name[len(SHARD_PREFIX) :].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(SHARD_PREFIX) :]))


def key(sample_id: SampleId) -> str:
    """A dictionary key that keeps ``1`` and ``"1"`` apart."""
    return json.dumps(sample_id)


def latest_rows(out: Path) -> dict[str, dict[str, Any]]:
    """Per sample (by :func:`key`), its latest row over every shard: the one with the highest ``attempt``."""
    latest: dict[str, dict[str, Any]] = {}
    for shard in shards(out):
        for row in read_rows(shard / SUMMARY_FILE):
            k = key(row["id"])
            if k not in latest or int(row.get("attempt", 0)) >= int(latest[k].get("attempt", 0)):
                latest[k] = row
    return latest


def is_done(row: dict[str, Any] | None, out: Path, retry_failed: bool) -> bool:
    """Whether a sample whose latest row is ``row`` needs no more work: an ``ok`` row whose trace and maps files
    exist, or a ``failed`` row unless ``retry_failed``."""
    if row is None:
        return False
    if row.get("status") == "failed":
        return not retry_failed
    return row.get("status") == "ok" and all((out / row[name]).is_file() for name in ("trace", "maps") if row.get(name))


class ShardWriter:
    """Appends one process's rows to its shard's ``summary.jsonl``; the only writer of that shard during a run.

    Opening it cuts off a last line left without its newline by a kill and removes files left under temporary
    names.
    """

    def __init__(self, folder: Path, *, fsync: bool = False) -> None:
        self.folder = folder
        self.fsync = fsync
        for sub in ("traces", "maps"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        for leftover in folder.rglob(f".*{TEMPORARY}"):
            leftover.unlink(missing_ok=True)
        self.path = folder / SUMMARY_FILE
        if self.path.exists():
            data = self.path.read_bytes()
            keep = data.rfind(b"\n") + 1
            if keep != len(data):
                with open(self.path, "r+b") as f:
                    f.truncate(keep)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, row: dict[str, Any]) -> None:
        """Write ``row`` as one line, in one ``write`` call (a kill leaves the whole line or a cut one, which
        readers skip)."""
        data = (json.dumps(row, allow_nan=False) + "\n").encode()
        written = 0
        while written < len(data):
            written += os.write(self._fd, data[written:])
        if self.fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def merge(out: Path, order: Iterable[SampleId] | None = None) -> list[dict[str, Any]]:
    """Write ``summary.jsonl``: every sample's latest row, in dataset order (``order``, else by the rows'
    ``index``), and remove trace and maps files that no latest row names (left by a kill between a file and its
    row). Returns the rows."""
    latest = latest_rows(out)
    if order is not None:
        position = {key(sample_id): i for i, sample_id in enumerate(order)}
        rows = sorted(latest.values(), key=lambda r: (position.get(key(r["id"]), len(position)), key(r["id"])))
    else:
        rows = sorted(latest.values(), key=lambda r: (int(r.get("index", 0)), key(r["id"])))
    named = {(out / row[name]).resolve() for row in rows for name in ("trace", "maps") if row.get(name)}
    for shard in shards(out):
        for folder in ("traces", "maps"):
            for path in (shard / folder).glob("*.safetensors"):
                if path.resolve() not in named:
                    path.unlink(missing_ok=True)
    write_text_atomic(out / SUMMARY_FILE, "".join(json.dumps(row) + "\n" for row in rows))
    return rows


def read_settings(out: Path) -> dict[str, Any] | None:
    """The contents of ``run.json``, or None when there is none."""
    path = out / RUN_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
