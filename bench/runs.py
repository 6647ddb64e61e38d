"""Dataset runs: samples/s with 1 and 2 processes, and a run's overhead over the bare generate + capture loop.

``python -m bench runs [--quick] [--samples N] [--out bench/]`` or ``python -m bench.runs ...``. Measured side by
side in one invocation, on the shipped toy model and toy samples written as a JSON-lines file with PNG pictures:

- **overhead at one process**: in this process, ``capture_dataset`` (attention precomputed, the run's default
  extractor settings) with, from its per-sample callback, the bare loop's step on the same sample right after the
  run's (open the picture, chat template, ``generate``, ``SaliencyExtractor.capture`` with the same settings, nothing
  kept), and the same step followed by ``trace.save``: paired sample by sample, so a shared machine's load falls on
  all alike; the run's fixed cost per invocation apart; per-stage times (prepare, generate, capture, maps and
  scores, writing) from its rows;
- **processes**: ``vl-saliency-widget run`` in one process and under ``accelerate launch --multi_gpu
  --num_processes 2`` on the same samples, each process with one torch thread; samples/s over the run's loop (from
  ``run.json``: after the model is loaded, until every process is done) and the command's wall time.

Results go to ``runs_results.json`` and ``runs_results.md`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from vl_saliency_widget import SaliencyExtractor
from vl_saliency_widget.demo import load_toy_vlm
from vl_saliency_widget.runs import capture_dataset, read_jsonl, toy_records, write_jsonl

SETTINGS: dict[str, Any] = {"rows": "answer", "dtype": torch.float16}
"""The run's default extractor settings, given to the bare loop's extractor too."""

NEW_TOKENS = 4


class BareStep:
    """One sample of the bare loop: open the picture, chat template, ``generate``, ``SaliencyExtractor.capture``
    with the run's extractor settings; then, with ``save``, ``trace.save`` into that folder; nothing kept."""

    def __init__(self, model: Any, processor: Any, data: Path, save: Path | None = None) -> None:
        self.model = model
        self.processor = processor
        self.extractor = SaliencyExtractor(model, processor, store_grads=False, **SETTINGS)
        self.folder = data.parent
        self.records = read_jsonl(data)
        self.save = save
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)

    def __call__(self, index: int) -> float:
        """Seconds for sample ``index``."""
        started = time.perf_counter()
        record = self.records[index]
        with Image.open(self.folder / record["image"]) as opened:
            picture = opened.convert("RGB")
        content = [{"type": "image", "image": picture}, {"type": "text", "text": record["question"]}]
        inputs = self.processor.apply_chat_template(
            [{"role": "user", "content": content}],
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            add_generation_prompt=True,
        )
        with torch.no_grad():
            generated = self.model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False)
        trace = self.extractor.capture(**inputs, generated_ids=generated, images=[picture])
        if self.save is not None:
            trace.save(self.save / f"{index}.safetensors")
        del trace
        return time.perf_counter() - started


def paired(model: Any, processor: Any, data: Path, out: Path) -> dict[str, Any]:
    """``capture_dataset`` over ``data`` (attention precomputed, the bare step's capture) with both bare steps of
    each sample (without and with ``trace.save``, in alternating order) run right after the run's, from the run's
    per-sample callback, so all three see the same load of a shared machine. Per sample, the run's time is the time
    between two callbacks less the bare steps inside them: the whole loop (sample, files, row, progress); the run's
    fixed cost (settings, resume scan, merge, reading it back) is the rest of its wall time."""
    steps = {"bare": BareStep(model, processor, data), "save": BareStep(model, processor, data, out / "bare-saves")}
    times: dict[str, list[float]] = {"run": [], "bare": [], "save": []}
    mark = [0.0]

    def on_sample(row: dict[str, Any]) -> None:
        times["run"].append(time.perf_counter() - mark[0])
        index = int(row["index"])
        for name in ("bare", "save") if index % 2 else ("save", "bare"):
            times[name].append(steps[name](index))
        mark[0] = time.perf_counter()

    started = mark[0] = time.perf_counter()
    run = capture_dataset(
        model,
        processor,
        data,
        out / "run",
        methods=["attn"],
        max_new_tokens=NEW_TOKENS,
        progress=False,
        on_sample=on_sample,
        **SETTINGS,
    )
    wall = time.perf_counter() - started
    stages = {name: sum(row["timing"].get(name, 0.0) for row in run.rows) for name in run.rows[0]["timing"]}
    seconds = {f"{name}_seconds": sum(values) for name, values in times.items()}
    return {**seconds, "fixed_seconds": wall - sum(map(sum, times.values())), "stage_seconds": stages}


def overhead(data: Path, work: Path, repeats: int) -> dict[str, Any]:
    """:func:`paired` ``repeats`` times after a warm-up; the overheads of each repeat, and the median repeat's."""
    torch.set_num_threads(1)
    model, processor = load_toy_vlm()
    samples = len(read_jsonl(data))
    paired(model, processor, data, work / "warm")
    repeats_ = [paired(model, processor, data, work / f"overhead-{k}") for k in range(repeats)]
    ratios = [r["run_seconds"] / r["bare_seconds"] - 1 for r in repeats_]
    saving = [r["run_seconds"] / r["save_seconds"] - 1 for r in repeats_]
    middle = sorted(range(repeats), key=lambda k: ratios[k])[repeats // 2]
    chosen = repeats_[middle]
    return {
        "samples": samples,
        "repeats": repeats_,
        "overheads": ratios,
        "overhead": ratios[middle],
        "overheads_vs_save": saving,
        "overhead_vs_save": sorted(saving)[repeats // 2],
        "bare_samples_per_second": samples / chosen["bare_seconds"],
        "save_samples_per_second": samples / chosen["save_seconds"],
        "run_samples_per_second": samples / chosen["run_seconds"],
        "fixed_seconds": chosen["fixed_seconds"],
        "stage_ms_per_sample": {k: v / samples * 1e3 for k, v in chosen["stage_seconds"].items()},
    }


def processes(data: Path, work: Path, counts: tuple[int, ...], repeats: int) -> dict[str, Any]:
    """``vl-saliency-widget run`` with each process count (1: plain; more: accelerate launch), ``repeats`` times
    each, interleaved; samples/s of the loop from ``run.json``."""
    results: dict[str, Any] = {str(n): {"loop_samples_per_second": [], "wall_seconds": []} for n in counts}
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    for k in range(repeats):
        for n in counts:
            out = work / f"processes-{n}-{k}"
            if n == 1:
                prefix = [sys.executable]
            else:
                prefix = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n)]
                prefix += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
            command = [
                *prefix, "-m", "vl_saliency_widget.demo.cli", "run", "--model", "toy", "--data", str(data),
                "--out", str(out), "--max-new-tokens", str(NEW_TOKENS), "--threads", "1", "--no-progress",
            ]  # fmt: skip
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
            last = json.loads((out / "run.json").read_text())["last"]
            results[str(n)]["loop_samples_per_second"].append(last["samples_per_second"])
            results[str(n)]["wall_seconds"].append(wall)
    for entry in results.values():
        entry["median_loop_samples_per_second"] = statistics.median(entry["loop_samples_per_second"])
        entry["median_wall_seconds"] = statistics.median(entry["wall_seconds"])
    return results


def markdown(results: dict[str, Any]) -> str:
    o, p = results["overhead"], results["processes"]
    lines = [
        "# Dataset runs",
        "",
        f"`{results['command']}` on {results['machine']}, toy model, {o['samples']} samples, "
        f"{NEW_TOKENS} new tokens at most, one torch thread per process.",
        "",
        "| measurement | samples/s | vs |",
        "|---|---:|---|",
        f"| bare loop (picture, template, generate, capture), 1 process | {o['bare_samples_per_second']:.1f} | |",
        f"| the same and `trace.save`, 1 process | {o['save_samples_per_second']:.1f} | |",
        f"| `capture_dataset`, attention precomputed, 1 process | {o['run_samples_per_second']:.1f} "
        f"| {o['overhead']:+.1%} over the bare loop (repeats: {', '.join(f'{r:+.1%}' for r in o['overheads'])}), "
        f"{o['overhead_vs_save']:+.1%} over the loop with `trace.save` "
        f"({', '.join(f'{r:+.1%}' for r in o['overheads_vs_save'])}); {o['fixed_seconds']:.2f} s once per run |",
    ]
    base = p["1"]["median_loop_samples_per_second"]
    for n, entry in p.items():
        rate = entry["median_loop_samples_per_second"]
        lines.append(
            f"| `vl-saliency-widget run`, {n} process{'es' if n != '1' else ''}, attention and Grad-CAM (loop) "
            f"| {rate:.1f} | {rate / base:.2f}x one process (repeats: "
            f"{', '.join(f'{r:.1f}' for r in entry['loop_samples_per_second'])}/s); command "
            f"{entry['median_wall_seconds']:.1f} s with start-up |"
        )
    stages = ", ".join(f"{name} {ms:.1f}" for name, ms in o["stage_ms_per_sample"].items())
    lines += ["", f"Run stages, ms per sample: {stages}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench runs", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few samples, one repeat (a smoke run)")
    parser.add_argument("--samples", type=int, help="toy samples (default: 200; 24 with --quick)")
    parser.add_argument("--repeats", type=int, help="interleaved repeats (default: 3; 1 with --quick)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent, help="folder for the results")
    args = parser.parse_args(argv)
    samples = args.samples or (24 if args.quick else 200)
    repeats = args.repeats or (1 if args.quick else 3)
    from .__main__ import machine

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as folder:
        work = Path(folder)
        data = write_jsonl(toy_records(samples, seed=0), work / "data" / "samples.jsonl")
        results: dict[str, Any] = {
            "overhead": overhead(data, work, repeats),
            "processes": processes(data, work, (1, 2), repeats),
        }
    info = machine("cpu", 1)
    results["machine"] = f"{info['cpu']} ({info['cores']} cores), torch {info['torch']}"
    results["command"] = " ".join(["python -m bench runs", *(argv if argv is not None else sys.argv[1:])])
    results["wall_seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runs_results.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "runs_results.md").write_text(markdown(results))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
