"""``Run``: a finished (or interrupted) dataset run read back: its summary, its traces opened one at a time, and
dataset-level reductions (localization heads, a scoreboard per method)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import safe_open

from ..core.trace import Align, Trace
from ..lib.heads import HeadRanking, rank_localization_heads
from ..transforms.localization import LocalizationHeads
from . import store
from .records import SampleId


@dataclass(frozen=True)
class MethodScore:
    """One method's scores over a run's samples, with confidence intervals.

    Attributes:
        method: the method's name.
        n: samples scored (``ok``, with a box, with the token asked for).
        pointing, pointing_low, pointing_high: the share of samples whose top cell is in the box, and its interval.
        energy, energy_low, energy_high: the mean share of positive mass in the box, and its interval.
    """

    method: str
    n: int
    pointing: float
    pointing_low: float
    pointing_high: float
    energy: float
    energy_low: float
    energy_high: float


def interval(
    values: list[float],
    *,
    kind: Literal["bootstrap", "normal"] = "bootstrap",
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(mean, low, high) of ``values``: the percentile bootstrap interval (``resamples`` resamples with a seeded
    generator) or the normal one (mean +- z * standard error, sample standard deviation). NaN for no value."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    data = torch.tensor(values, dtype=torch.float64)
    mean = float(data.mean())
    alpha = 1 - confidence
    if kind == "normal":
        if n < 2:
            return mean, math.nan, math.nan
        half = statistics.NormalDist().inv_cdf(1 - alpha / 2) * float(data.std(unbiased=True)) / math.sqrt(n)
        return mean, mean - half, mean + half
    if kind != "bootstrap":
        raise ValueError(f"kind must be 'bootstrap' or 'normal', not {kind!r}.")
    generator = torch.Generator().manual_seed(seed)
    means = data[torch.randint(n, (resamples, n), generator=generator)].mean(dim=1)
    low, high = torch.quantile(means, torch.tensor([alpha / 2, 1 - alpha / 2], dtype=torch.float64)).tolist()
    return mean, low, high


class Run:
    """A run folder written by ``capture_dataset``: ``Run.load("runs/x")``.

    ``len(run)`` samples (ok and failed), ``run.rows`` their summary rows (dicts, dataset order), ``run.summary`` the
    same as a pandas DataFrame when pandas is installed (else the list of rows), ``run.trace(id)`` one sample's
    trace, read from its file when asked for.
    """

    def __init__(self, path: str | Path, rows: list[dict[str, Any]], settings: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.rows = rows
        self.settings = settings or {}
        self._by_id = {store.key(row["id"]): row for row in rows}

    @classmethod
    def load(cls, path: str | Path) -> Run:
        """Read a run: every sample's latest row from its shards (complete lines only, so an interrupted run reads
        as far as it got), in dataset order.

        Raises:
            FileNotFoundError: ``path`` holds no run.
        """
        path = Path(path)
        info = store.read_settings(path)
        if info is None and not store.shards(path):
            raise FileNotFoundError(f"No run in {path}: it has no {store.RUN_FILE} and no shard folder.")
        rows = sorted(store.latest_rows(path).values(), key=lambda r: (int(r.get("index", 0)), store.key(r["id"])))
        return cls(path, rows, (info or {}).get("settings"))

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __repr__(self) -> str:
        ok = sum(row["status"] == "ok" for row in self.rows)
        return f"Run({str(self.path)!r}: {len(self.rows)} samples, {ok} ok, {len(self.rows) - ok} failed)"

    @property
    def ids(self) -> list[SampleId]:
        return [row["id"] for row in self.rows]

    @property
    def methods(self) -> list[str]:
        """The precomputed methods, by name (from ``run.json``, else from the rows' ``top_<method>`` columns)."""
        if "methods" in self.settings:
            return list(self.settings["methods"])
        return list(dict.fromkeys(k.removeprefix("top_") for row in self.rows for k in row if k.startswith("top_")))

    @property
    def summary(self) -> Any:
        """The rows as a ``pandas.DataFrame`` (one column per field) when pandas is installed, else the list of
        row dicts."""
        try:
            import pandas
        except ImportError:
            return [dict(row) for row in self.rows]
        return pandas.DataFrame(self.rows)

    def row(self, sample_id: SampleId) -> dict[str, Any]:
        """The summary row of a sample.

        Raises:
            KeyError: no sample has that id in this run.
        """
        try:
            return self._by_id[store.key(sample_id)]
        except KeyError:
            raise KeyError(f"No sample {sample_id!r} in {self.path}.") from None

    def _file(self, sample_id: SampleId, name: str) -> Path:
        row = self.row(sample_id)
        if row["status"] != "ok" or not row.get(name):
            raise ValueError(f"Sample {sample_id!r} failed ({row.get('error')}): it has no {name} file.")
        return self.path / row[name]

    def trace(self, sample_id: SampleId) -> Trace:
        """The trace of a sample, read from its file now (``Trace.load``).

        Raises:
            KeyError: no such sample. ValueError: the sample failed.
        """
        return Trace.load(self._file(sample_id, "trace"))

    def traces(self) -> Iterator[tuple[SampleId, Trace]]:
        """``(id, trace)`` of every ``ok`` sample, one file read at a time (nothing kept)."""
        for row in self.rows:
            if row["status"] == "ok":
                yield row["id"], self.trace(row["id"])

    def maps(self, sample_id: SampleId) -> dict[str, list[torch.Tensor]]:
        """The precomputed maps of a sample: per method, per picture, [answer tokens, rows, cols]."""
        path = self._file(sample_id, "maps")
        out: dict[str, list[torch.Tensor]] = {}
        with safe_open(str(path), framework="pt") as f:
            names = [k for k in f.keys() if k != "positions"]  # noqa: SIM118 (safe_open has no __iter__)
            for name in sorted(names, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1]))):
                out.setdefault(name.rsplit("/", 1)[0], []).append(f.get_tensor(name))
        return out

    def where(self, predicate: Callable[[dict[str, Any]], bool] | None = None, **columns: Any) -> Run:
        """The samples whose row satisfies ``predicate(row)`` and every ``column=value`` (equal; or a callable of
        the column's value, e.g. ``status="ok"``, ``expected=lambda v: v in {"red", "blue"}``), as a Run on the same
        folder.

        Raises:
            KeyError: a column no row has.
        """
        known = {name for row in self.rows for name in row}
        unknown = sorted(set(columns) - known)
        if unknown and self.rows:
            raise KeyError(f"No column {', '.join(unknown)} in this run; columns: {', '.join(sorted(known))}.")

        def keep(row: dict[str, Any]) -> bool:
            for name, wanted in columns.items():
                value = row.get(name)
                if not (wanted(value) if callable(wanted) else value == wanted):
                    return False
            return predicate is None or bool(predicate(row))

        return Run(self.path, [row for row in self.rows if keep(row)], self.settings)

    def rank_localization_heads(
        self,
        token: int = 0,
        *,
        image_index: int = 0,
        align: Align = "predicting",
        selector: LocalizationHeads | None = None,
    ) -> HeadRanking:
        """``lib.rank_localization_heads`` over the run: the attention map of answer token ``token`` (0: the first)
        on picture ``image_index`` of every ``ok`` sample that has that token, its trace read one at a time.

        The layers and heads are the captured ones (``layers=``/``heads=`` of the run), numbered from 0.

        Raises:
            ValueError: no sample has the token.
        """
        maps = (
            trace.map(token, "attn", image_index, align=align)
            for _, trace in self.where(status="ok", tokens=lambda t: t is not None and len(t) > token).traces()
        )
        return rank_localization_heads(maps, selector)

    def scoreboard(
        self,
        token: int | Literal["mean"] = 0,
        *,
        kind: Literal["bootstrap", "normal"] = "bootstrap",
        confidence: float = 0.95,
        resamples: int = 2000,
        seed: int = 0,
    ) -> dict[str, MethodScore]:
        """Per precomputed method, pointing and energy over the ``ok`` samples with a box, with confidence intervals.

        Args:
            token: the answer token scored (0: the first), or "mean": each sample's mean over its answer tokens that
                are not special tokens.
            kind, confidence, resamples, seed: the interval (see :func:`interval`).
        """
        board: dict[str, MethodScore] = {}
        for method in self.methods:
            values: dict[str, list[float]] = {"pointing": [], "energy": []}
            for row in self.rows:
                if row["status"] != "ok" or row.get(f"pointing_{method}") is None:
                    continue
                for score in values:
                    per_token = row[f"{score}_{method}"]
                    if token == "mean":
                        kept = [v for v, special in zip(per_token, row["special"], strict=True) if not special]
                        if kept:
                            values[score].append(sum(kept) / len(kept))
                    elif token < len(per_token):
                        values[score].append(float(per_token[token]))
            options: dict[str, Any] = {"kind": kind, "confidence": confidence, "resamples": resamples, "seed": seed}
            p = interval(values["pointing"], **options)
            e = interval(values["energy"], **options)
            board[method] = MethodScore(method, len(values["pointing"]), *p, *e)
        return board


def scoreboard_markdown(board: dict[str, MethodScore], confidence: float = 0.95) -> str:
    """A scoreboard as a markdown table: method, n, pointing and energy with their intervals."""
    percent = f"{confidence:.0%}"
    lines = [
        f"| method | n | pointing | {percent} interval | energy | {percent} interval |",
        "|---|---:|---:|---|---:|---|",
    ]
    for s in board.values():
        lines.append(
            f"| {s.method} | {s.n} | {s.pointing:.3f} | {s.pointing_low:.3f}-{s.pointing_high:.3f} "
            f"| {s.energy:.3f} | {s.energy_low:.3f}-{s.energy_high:.3f} |"
        )
    return "\n".join(lines)
