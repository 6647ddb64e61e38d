"""A run folder written without a model, for the gallery's tests and benchmark: ``synthetic_run(folder, n)``.

It is laid out as ``capture_dataset`` lays one out (``run.json``, ``shard-0/summary.jsonl``, ``traces/`` and
``maps/``), so ``Run.load`` and ``run.trace(id)`` read it as any run. To be quick for 10,000 samples (about 5 s):

- ``distinct`` trace files only (``tests/widget/synthetic.synthetic_trace``: random attention, and sequence
  gradients, over a generated picture of shapes; 2 ms each), which the rows share in turn: sample ``i`` has trace
  ``i % distinct``;
- a maps file per sample (0.3 ms each), every method's [answer tokens, rows, cols] maps a smooth bump around a
  point drawn per sample, so every card's map differs;
- summary rows with the fields ``capture_dataset`` writes (question, answer, tokens, special, per-method top cell,
  pointing and energy per token drawn at random, timings) and a metadata field ``reliance`` (a number, like
  ``trace.reliance().delta``'s mean) and ``expected``; every ``failed_every``-th sample failed, with an error.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from tests.widget.synthetic import synthetic_trace
from vl_saliency_widget import Trace
from vl_saliency_widget.runs import store

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "gray", "white"]
SHAPES = ["circle", "square", "triangle", "shape"]
GRID = (6, 8)
"""(rows, cols) of the synthetic pictures' image tokens, 14 pixels each: a 112 x 84 picture."""


def _question(rng: np.random.Generator) -> str:
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    forms = [f"What color is the {shape}?", f"Which colour does the {shape} have?", f"Is the {shape} red?"]
    return forms[int(rng.integers(len(forms)))]


def _bump(rng: np.random.Generator, tokens: int) -> torch.Tensor:
    """float32 [tokens, rows, cols]: a bump around a random cell per token, plus a little noise."""
    rows, cols = GRID
    y, x = np.mgrid[0:rows, 0:cols]
    out = np.empty((tokens, rows, cols), dtype=np.float32)
    for t in range(tokens):
        cy, cx = rng.uniform(0, rows), rng.uniform(0, cols)
        width = rng.uniform(0.8, 2.5)
        out[t] = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * width**2)) + 0.05 * rng.random((rows, cols))
    return torch.from_numpy(out / out.sum(axis=(1, 2), keepdims=True))


def synthetic_run(
    folder: str | Path,
    n: int,
    *,
    methods: tuple[str, ...] = ("attn", "gradcam"),
    distinct: int = 64,
    failed_every: int = 97,
    seed: int = 0,
) -> Path:
    """Write a run of ``n`` samples to ``folder`` (see the module docstring) and return the folder."""
    out = Path(folder)
    shard = out / f"{store.SHARD_PREFIX}0"
    (shard / "traces").mkdir(parents=True, exist_ok=True)
    (shard / "maps").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    words = [" What", " color", " is", " it", "?"]
    for k in range(min(distinct, n)):
        strings = [*words, f" {COLOURS[k % len(COLOURS)]}", "</s>"]
        trace = synthetic_trace(strings, layers=2, heads=2, grid=GRID, gen_start=len(words), seed=k)
        attn = trace.data.attn
        assert attn is not None
        # sequence gradients too, so that the full widget offers Grad-CAM as the run did
        trace = Trace(replace(trace.data, grad=attn - attn.mean(-1, keepdim=True)))
        trace.save(shard / "traces" / f"trace-{k}.safetensors")
    lines = []
    for i in range(n):
        sample_id = f"s{i:05d}"
        colour = COLOURS[i % min(distinct, n) % len(COLOURS)]
        expected = COLOURS[int(rng.integers(len(COLOURS)))]
        row: dict[str, Any] = {
            "id": sample_id,
            "index": i,
            "attempt": 1,
            "status": "ok",
            "question": _question(rng),
            "answer": colour,
            "answer_source": "generated",
            "expected": expected,
            "reliance": round(float(rng.normal(1.0, 1.2)), 4),
        }
        if failed_every and i % failed_every == failed_every - 1:
            row |= {"status": "failed", "answer": None, "error": "OSError: cannot identify image file"}
            row |= {"traceback": "Traceback (most recent call last):\nOSError: cannot identify image file"}
            lines.append(json.dumps(row | {"seconds": 0.001, "timing": {"prepare": 0.001}}))
            continue
        tokens = 2
        maps = {f"{method}/0": _bump(rng, tokens) for method in methods}
        name = store.file_name(sample_id)
        tensors = maps | {"positions": torch.tensor([53, 54])}
        save_file(tensors, str(shard / "maps" / f"{name}.safetensors"), metadata={"id": json.dumps(sample_id)})
        row |= {
            "tokens": [f" {colour}", "</s>"],
            "special": [False, True],
            "positions": [53, 54],
            "grid": [list(GRID)],
            "box": [[14.0, 14.0, 56.0, 56.0]],
            "box_image": 0,
            "error": None,
            "trace": f"{shard.name}/traces/trace-{i % min(distinct, n)}.safetensors",
            "maps": f"{shard.name}/maps/{name}.safetensors",
            "seconds": round(float(rng.uniform(0.02, 0.05)), 4),
            "timing": {"prepare": 0.002, "generate": 0.01, "capture": 0.01, "maps": 0.002, "write": 0.003},
        }
        for method in methods:
            top = maps[f"{method}/0"].reshape(tokens, -1).argmax(dim=1).tolist()
            row[f"top_{method}"] = [[list(divmod(int(cell), GRID[1]))] for cell in top]
            row[f"pointing_{method}"] = [float(rng.random() < 0.6) for _ in range(tokens)]
            row[f"energy_{method}"] = [round(float(rng.random()), 4) for _ in range(tokens)]
        lines.append(json.dumps(row, allow_nan=False))
    (shard / store.SUMMARY_FILE).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    settings = {"format": 1, "model": "synthetic", "methods": list(methods), "reduce": "mean", "seed": seed}
    ok = sum('"status": "ok"' in line for line in lines)
    info = {"settings": settings, "samples": n, "ok": ok, "failed": n - ok}
    (out / store.RUN_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return out
