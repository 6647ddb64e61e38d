"""``vl-saliency-widget run``: a dataset run from the command line, in one process or under ``accelerate launch``.

::

    vl-saliency-widget run --model PATH --data samples.jsonl --out runs/x [options]
    accelerate launch --multi_gpu --num_processes 2 -m vl_saliency_widget.demo.cli run --model PATH ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .records import DEFAULT_METHODS

DTYPES = ("float16", "bfloat16", "float32", "model")
"""``--dtype`` choices: the trace's storage dtype ("model": the model's own). The module imports no torch, so the
command line parses (and answers --help) before torch loads."""


def _ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, not {text!r}") from None


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``run`` subcommand to ``commands`` (an ``add_subparsers`` object); return its parser."""
    run = commands.add_parser(
        "run",
        help="capture saliency traces for every sample of a JSON-lines dataset (accelerate launch splits it)",
        description=(
            "Generate (or teacher-force) each sample's answer, capture its trace, precompute and score its maps, and "
            "write them to --out; a run started again on the same --out resumes. Under `accelerate launch` the "
            "samples are split between the processes."
        ),
    )
    run.add_argument(
        "--model",
        required=True,
        metavar="PATH",
        help="a local model folder (AutoModelForImageTextToText / AutoProcessor), or 'toy' / 'binding' for the "
        "shipped toy model / binding toy",
    )
    run.add_argument("--data", required=True, type=Path, metavar="FILE", help="samples, one JSON record a line")
    run.add_argument("--out", required=True, type=Path, metavar="DIR", help="the run's folder")
    run.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help="maps to precompute, comma-separated: attn, grad or a name of lib.METHODS (default: %(default)s)",
    )
    run.add_argument("--layers", type=_ints, help="capture only these layers, e.g. 0,1,2 (default: all)")
    run.add_argument("--heads", type=_ints, help="capture only these heads (default: all)")
    run.add_argument("--rows", choices=("answer", "text"), default="answer", help="query rows kept (default: answer)")
    run.add_argument("--dtype", choices=tuple(DTYPES), default="float16", help="trace storage dtype (default: float16)")
    run.add_argument("--gradients", choices=("token", "sequence"), default="token", help="gradient (default: token)")
    run.add_argument("--max-new-tokens", type=int, default=16, help="generated tokens at most (default: 16)")
    run.add_argument(
        "--reduce",
        choices=("mean", "sum", "max", "min", "prod"),
        default="mean",
        help="layer and head reduction of the precomputed maps (default: mean)",
    )
    run.add_argument("--seed", type=int, default=0, help="seed of the tie-breaking order between equal cells")
    run.add_argument("--retry-failed", action="store_true", help="redo the samples recorded as failed")
    run.add_argument(
        "--model-dtype", choices=("float32", "bfloat16", "float16"), help="the model's dtype (default: as saved)"
    )
    run.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads per process (default: 1; the same in every run keeps CPU results bit-identical)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress line")
    run.add_argument("--fsync", action="store_true", help="flush every file to the disk (survives a power cut)")
    return run


def load_model(path: str, dtype: str | None = None) -> tuple[Any, Any]:
    """``(model, processor)`` from a local folder, or the toy model for ``"toy"`` and the binding toy for
    ``"binding"``; the model in eval mode."""
    import torch

    model: Any
    if path in ("toy", "binding"):
        from ..demo.model import load_binding_vlm, load_toy_vlm

        model, processor = load_toy_vlm() if path == "toy" else load_binding_vlm()
    else:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        options: dict[str, Any] = {"dtype": getattr(torch, dtype)} if dtype else {}
        model = AutoModelForImageTextToText.from_pretrained(path, **options)
        processor = AutoProcessor.from_pretrained(path)
    if dtype is not None:
        model = model.to(getattr(torch, dtype))
    return model.eval(), processor


def run_command(args: argparse.Namespace) -> int:
    """Run ``vl-saliency-widget run``; return the exit status (0 even when samples failed: they are in the
    summary)."""
    import torch

    from .capture import capture_dataset, process_state

    torch.set_num_threads(args.threads)
    state = process_state()
    model, processor = load_model(args.model, args.model_dtype)
    device = torch.device(getattr(state, "device", "cpu"))
    if device.type != "cpu":
        model = model.to(device)
    run = capture_dataset(
        model,
        processor,
        args.data,
        args.out,
        methods=[m.strip() for m in args.methods.split(",") if m.strip()],
        layers=args.layers,
        heads=args.heads,
        rows=args.rows,
        dtype=None if args.dtype == "model" else getattr(torch, args.dtype),
        gradients=args.gradients,
        max_new_tokens=args.max_new_tokens,
        reduce=args.reduce,
        seed=args.seed,
        retry_failed=args.retry_failed,
        progress=not args.no_progress,
        state=state,
        fsync=args.fsync,
    )
    if state.is_main_process:
        failed = sum(row["status"] == "failed" for row in run.rows)
        print(
            f"{len(run)} samples in {args.out}: {len(run) - failed} ok, {failed} failed "
            f"(summary: {args.out / 'summary.jsonl'})",
            file=sys.stderr,
        )
    return 0
