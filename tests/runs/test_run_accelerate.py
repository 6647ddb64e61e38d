"""``accelerate launch --multi_gpu --num_processes 2`` on this CPU machine: two processes, each with a gloo group
(the run asks for ``PartialState(cpu=True)`` where there is no accelerator), split the samples with accelerate's own
split and write a shard each; the merged result equals one process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vl_saliency_widget.runs import Run

from .conftest import NEW_TOKENS, make_dataset
from .helpers import comparable, contents

pytest.importorskip("accelerate")


def _run(prefix: list[str], data: Path, out: Path) -> None:
    command = [
        *prefix, "-m", "vl_saliency_widget.demo.cli", "run", "--model", "toy", "--data", str(data), "--out", str(out),
        "--max-new-tokens", str(NEW_TOKENS), "--threads", "1", "--no-progress",
    ]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_accelerate_processes_give_what_one_process_gives(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", 16, broken=3, raising=10)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    _run(launch, data.path, tmp_path / "two")
    _run([sys.executable], data.path, tmp_path / "one")
    two, one = Run.load(tmp_path / "two"), Run.load(tmp_path / "one")
    assert json.loads((two.path / "run.json").read_text())["last"]["processes"] == 2
    # accelerate's split: contiguous halves in dataset order, one shard per process.
    shards = {row["trace"].split("/")[0] for row in two.rows if row["status"] == "ok"}
    assert shards == {"shard-0", "shard-1"}
    assert [row["trace"].split("/")[0] for row in two.rows if row["status"] == "ok"][:2] == ["shard-0"] * 2
    assert {row["id"] for row in two.rows if row["status"] == "failed"} == {data.broken, data.raising}
    # Exact: each sample is the same computation in both runs (same model, inputs, one torch thread, same code
    # path, the tie-breaking order seeded by the sample's id); only the process that does it differs. Rows differ
    # only in timings and in the shard their files sit in.
    assert [comparable(r, paths=False) for r in two.rows] == [comparable(r, paths=False) for r in one.rows]
    for a, b in zip(two.rows, one.rows, strict=True):
        if a["status"] == "ok":
            for name in ("trace", "maps"):
                assert contents(two.path / a[name]) == contents(one.path / b[name]), (a["id"], name)
    merged = (two.path / "summary.jsonl").read_text().splitlines()
    assert len(merged) == 16
