"""``python -m bench [--quick] [--device cpu|cuda] [--out bench/]``: run every benchmark, write the results.

Writes ``results.json`` (every number, the machine and the command), ``results.md`` (the tables) and PNG plots
into ``--out``. See ``bench/__init__.py`` for what is measured. ``python -m bench runs [--quick]``: the dataset-run
benchmark instead (``bench/runs.py``); ``python -m bench perturbation [--quick]``: occlusion and reliance alone
(``bench/perturbation.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .isolate import isolated
from .micro import micro
from .models import Shape
from .perturbation import FULL as PERTURBATION_FULL
from .perturbation import QUICK as PERTURBATION_QUICK
from .perturbation import Case, perturbation
from .report import write_markdown, write_plots
from .workloads import METHODS, compare, gradients, memory

GIB = 2**30


@dataclass(frozen=True)
class Plan:
    """What one run measures."""

    shapes: tuple[Shape, ...]
    scaling_base: Shape
    scaling_tokens: tuple[int, ...]
    map_shapes: tuple[tuple[int, int, int], ...]
    maps_tokens: int
    repeats: int
    timeout: float
    micro_budget: float
    perturbation: tuple[Case, ...] = ()


FULL = Plan(
    shapes=(
        Shape("gemma3 8x8", 8, 8, 4, 256, 32, 1024, 0, 400, 463, note="Gemma 3-shaped, the issue's first figure"),
        Shape("gemma3 16x16", 16, 16, 8, 512, 32, 2048, 0, 900, 963, note="Gemma 3-shaped, the issue's second figure"),
        Shape(
            "SmolVLM-256M text, 8 layers",
            8,
            9,
            3,
            576,
            64,
            1536,
            49280,
            576,
            640,
            note="SmolVLM-256M's text decoder dimensions and vocabulary (8 of its 30 layers) in a Gemma 3 model",
        ),
    ),
    scaling_base=Shape("gemma3 4x4", 4, 4, 2, 256, 64, 1024, 0, 256, 256, note="scaling curve"),
    scaling_tokens=(256, 512, 1024, 2048, 4096),
    map_shapes=((34, 8, 16), (28, 16, 32)),
    maps_tokens=500,
    repeats=3,
    timeout=240.0,
    micro_budget=2.0,
    perturbation=PERTURBATION_FULL,
)

QUICK = Plan(
    shapes=(Shape("tiny 2x4", 2, 4, 2, 64, 16, 128, 0, 64, 100, note="tiny"),),
    scaling_base=Shape("tiny 2x4", 2, 4, 2, 64, 16, 128, 0, 64, 64, note="tiny scaling curve"),
    scaling_tokens=(96, 128),
    map_shapes=((4, 2, 4),),
    maps_tokens=20,
    repeats=2,
    timeout=60.0,
    micro_budget=0.05,
    perturbation=PERTURBATION_QUICK,
)


def machine(device: str, threads: int) -> dict[str, Any]:
    """The CPU model, core count, torch version and, on CUDA, the GPU."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import os

    import transformers

    result = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": threads,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "device": device,
    }
    if device.startswith("cuda"):
        result["gpu"] = torch.cuda.get_device_name(device)
    return result


def run(plan: Plan, device: str, threads: int, memory_limit: int, log: Any = print) -> dict[str, Any]:
    """Every measurement of ``plan``; the dict written to results.json."""
    results: dict[str, Any] = {"shapes": {}, "scaling": {"base": asdict(plan.scaling_base), "points": {}}}
    common: dict[str, Any] = {
        "timeout": plan.timeout,
        "memory_limit": memory_limit,
        "threads": threads,
        "device": device,
    }
    for shape in plan.shapes:
        log(f"compare {shape.name}: {shape.describe()}")
        timing = isolated(compare, shape=shape, methods=list(METHODS), repeats=plan.repeats, **common)
        peaks = {m: isolated(memory, shape=shape, method=m, **common) for m in METHODS}
        log(f"gradients {shape.name}: one token per backward pass, batched, float16 trace sizes")
        costs = isolated(gradients, shape=shape, **common)
        results["shapes"][shape.name] = {
            "shape": asdict(shape),
            "describe": shape.describe(),
            "time": timing,
            "memory": peaks,
            "gradients": costs,
        }
    for tokens in plan.scaling_tokens:
        shape = plan.scaling_base.with_tokens(tokens)
        log(f"scaling {shape.name}")
        results["scaling"]["points"][str(tokens)] = {
            m: isolated(memory, shape=shape, method=m, repeats=2, **common)
            for m in ("floor", "ours_sequence", "reference")
        }
    log("map + agg + normalize, trace.maps")
    results["micro"] = isolated(
        micro,
        shapes=list(plan.map_shapes),
        tokens=plan.maps_tokens,
        budget=plan.micro_budget,
        timeout=plan.timeout,
        memory_limit=memory_limit,
        threads=threads,
    )
    results["micro"]["maps_tokens"] = plan.maps_tokens
    results["perturbation"] = {}
    for case in plan.perturbation:
        log(f"occlusion and reliance, {case.name}")
        results["perturbation"][case.name] = isolated(perturbation, case=case, repeats=plan.repeats, **common)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["runs"]:  # python -m bench runs [...]: the dataset-run benchmark (bench/runs.py)
        from .runs import main as runs_main

        return runs_main(arguments[1:])
    if arguments[:1] == ["perturbation"]:  # python -m bench perturbation [...]: occlusion and reliance alone
        from .perturbation import main as perturbation_main

        return perturbation_main(arguments[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes and short curves (the CI smoke run)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N); models and inputs go there")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent, help="folder for results and plots")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per measurement (default 1)")
    parser.add_argument(
        "--memory-limit-gib",
        type=float,
        default=8.0,
        help="host data segment limit per measurement on the CPU (none on CUDA, whose driver maps large regions)",
    )
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA build of torch and a GPU; this machine has none.")
    if not (args.device == "cpu" or args.device.startswith("cuda")):
        parser.error(f"--device must be cpu or cuda, not {args.device!r}.")
    plan = QUICK if args.quick else FULL
    start = time.perf_counter()
    memory_limit = 0 if args.device.startswith("cuda") else int(args.memory_limit_gib * GIB)
    results = run(plan, args.device, args.threads, memory_limit)
    results["wall_seconds"] = time.perf_counter() - start
    results["command"] = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    results["machine"] = machine(args.device, args.threads)
    results["quick"] = args.quick
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    plots = write_plots(results, args.out)
    write_markdown(results, args.out / "results.md", plots)
    print(
        f"wrote {args.out / 'results.json'}, {args.out / 'results.md'} and {len(plots)} plots "
        f"in {results['wall_seconds']:.0f} s"
    )
    return results


if __name__ == "__main__":
    main()
