"""Methods that run the model again: occlusion over the 8 x 8 grid for a whole answer, and ``trace.reliance()``; and
what keeping the text columns costs a capture.

Measured side by side in one process per model (``python -m bench`` runs it with the rest; ``python -m bench
perturbation [--quick]`` alone, writing ``perturbation_results.json`` and ``perturbation_results.md``), interleaved
repeats after one warm-up of each, medians:

- **one forward**: ``model(**inputs)`` under ``torch.no_grad``, the teacher-forced pass of the whole sequence (prompt
  and answer) on the intact picture: the unit the other times are divided by;
- **occlusion, batched**: ``trace.map(answer token, lib.Occlusion(batch_size=8))`` on a trace whose perturbation
  results were cleared, so its passes run again: one pass on the intact picture, then 8 pictures per pass, each with
  one cell hidden; every answer token's map comes from the same passes;
- **occlusion, one mask per pass**: the same with ``batch_size=1`` (65 passes);
- **reliance**: ``trace.reliance()``, the intact and the hidden picture in one batch;
- **capture, without / with text columns**: ``SaliencyExtractor(model, processor).capture(...)`` of the same
  teacher-forced answer, and the same with ``text_columns=True`` (the captured rows' attention on every text
  position kept too, for ``trace.text_attribution``); beside the times, the bytes each trace keeps (its attention,
  gradient and text-column tensors) and what ``estimate_trace_bytes`` said before.

Passes are counted by a forward pre-hook on the model (calls and pictures per call), and the seconds inside the
model's forward by a pre- and post-hook pair; the rest of a method's time is making the changed pictures and the
processor's image step on them.

Models: the shipped toy model (``load_toy_vlm``: 0.58M parameters, 96 px pictures of 8 x 8 patches) and, at full size,
a random-weight LLaVA with the toy's processor (the same 8 x 8 grid and 64 image tokens) and a SmolVLM-256M-sized text
decoder, where the model's forward outweighs the picture preparation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import torch

GRID_CELLS = 64
"""Cells of the toy processor's 8 x 8 grid."""

BATCH = 8
"""Pictures per pass of the batched occlusion (``lib.Occlusion``'s default)."""


@dataclass(frozen=True)
class Case:
    """One measured model and answer.

    Attributes:
        name: label in the tables.
        decoder: None for the shipped toy model; else the text decoder of a random-weight LLaVA with the toy's
            processor: (layers, heads, kv heads, hidden, intermediate).
        vision: (layers, width) of its CLIP tower (None: the toy's, 1 x 64).
        answer: answer tokens, teacher forced after the prompt (the colour word, then words of the question).
        note: what the case stands for.
    """

    name: str
    decoder: tuple[int, int, int, int, int] | None
    vision: tuple[int, int] | None
    answer: int
    note: str = ""


TOY = Case("toy", None, None, 16, note="the shipped toy model, 0.58M parameters")
SMOL = Case(
    "LLaVA, SmolVLM-256M-sized decoder",
    (8, 9, 3, 576, 1536),
    (2, 256),
    16,
    note="random weights, the toy's processor and 8 x 8 grid; 8 layers of SmolVLM-256M's text decoder dimensions",
)

FULL = (TOY, SMOL)
QUICK = (Case("toy", None, None, 4, note="the shipped toy model, short answer"),)


def build(case: Case, device: str) -> tuple[Any, Any, Any]:
    """The model (eval mode, on ``device``), its processor, and the held-out toy sample 0."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    from vl_saliency_widget.demo import load_toy_vlm, toy_samples
    from vl_saliency_widget.demo.data import CELL, GRID, IMAGE_SIZE
    from vl_saliency_widget.demo.parts import decoder_config

    model, processor = load_toy_vlm()
    if case.decoder is not None:
        layers, heads, kv_heads, hidden, intermediate = case.decoder
        vision_layers, width = case.vision or (1, 64)
        tokenizer = processor.tokenizer
        config = LlavaConfig(
            text_config=decoder_config(
                tokenizer,
                hidden_size=hidden,
                intermediate_size=intermediate,
                num_hidden_layers=layers,
                num_attention_heads=heads,
                num_key_value_heads=kv_heads,
                head_dim=hidden // heads,
                model_type="llama",
                max_position_embeddings=256,
            ),
            vision_config={
                "model_type": "clip_vision_model",
                "hidden_size": width,
                "intermediate_size": 4 * width,
                "num_hidden_layers": vision_layers,
                "num_attention_heads": max(1, width // 64),
                "image_size": IMAGE_SIZE,
                "patch_size": CELL,
            },
            image_token_index=tokenizer.image_token_id,
            image_seq_length=GRID * GRID,
            vision_feature_select_strategy="default",
            vision_feature_layer=-2,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = LlavaForConditionalGeneration(config)
    cast(Any, model).to(device)  # transformers' typing of .to wants no device argument
    return model.eval(), processor, toy_samples(1)[0]


class PassCounter:
    """Forward calls of a model, the pictures in each, and the seconds inside them (pre- and post-hooks)."""

    def __init__(self, model: Any, device: str) -> None:
        self.calls = 0
        self.pictures = 0
        self.seconds = 0.0
        self._device = device
        self._started = 0.0
        self._handles = [
            model.register_forward_pre_hook(self._pre, with_kwargs=True),
            model.register_forward_hook(self._post),
        ]

    def _pre(self, module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        self.calls += 1
        ids = kwargs.get("input_ids")
        self.pictures += int(ids.shape[0]) if isinstance(ids, torch.Tensor) else 1
        _sync(self._device)
        self._started = time.perf_counter()

    def _post(self, module: Any, args: Any, output: Any) -> None:
        _sync(self._device)
        self.seconds += time.perf_counter() - self._started

    def reset(self) -> None:
        self.calls, self.pictures, self.seconds = 0, 0, 0.0

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def perturbation(case: Case, repeats: int, device: str) -> dict[str, Any]:
    """Every measurement of one case (see the module's docstring), in this process."""
    from vl_saliency_widget import SaliencyExtractor, lib
    from vl_saliency_widget.core.inputs import teacher_forced_inputs
    from vl_saliency_widget.demo.parts import chat_inputs

    spec = case
    model, processor, sample = build(spec, device)
    tokenizer = processor.tokenizer
    inputs = {k: v.to(device) for k, v in chat_inputs(processor, [sample.messages]).items()}
    prompt = inputs["input_ids"]
    question = tokenizer(" what color is the shape", add_special_tokens=False)["input_ids"]
    words = [tokenizer.convert_tokens_to_ids(f"▁{sample.answer}")] + question * spec.answer
    answer = torch.tensor([words[: spec.answer]], device=device)
    sequence = torch.cat([prompt, answer], dim=1)
    trace = SaliencyExtractor(model, processor, store_grads=False, methods=[lib.occlusion]).capture(
        **inputs, generated_ids=sequence, images=[sample.image]
    )
    forward_inputs = teacher_forced_inputs(model, sequence.cpu(), prompt.shape[1], inputs)
    counter = PassCounter(model, device)
    batched, single = lib.Occlusion(batch_size=BATCH), lib.Occlusion(batch_size=1)
    extractors = {
        "capture": SaliencyExtractor(model, processor),
        "capture_text_columns": SaliencyExtractor(model, processor, text_columns=True),
    }
    kept: dict[str, int] = {}
    token = 0  # the first answer token; the same passes map every answer token

    def forward() -> None:
        with torch.no_grad():
            model(**forward_inputs)

    def occlusion_batched() -> None:
        trace.data.perturbations.clear()
        trace.map(token, batched)

    def occlusion_single() -> None:
        trace.data.perturbations.clear()
        trace.map(token, single)

    def reliance() -> None:
        trace.data.perturbations.clear()
        trace.reliance()

    def capturing(name: str) -> Any:
        def capture() -> None:
            captured = extractors[name].capture(**inputs, generated_ids=sequence)
            kept[name] = sum(_bytes(getattr(captured.data, f)) for f in ("attn", "grad", "text_attn", "text_grad"))

        return capture

    calls = {
        "forward": forward,
        "occlusion_batched": occlusion_batched,
        "occlusion_single": occlusion_single,
        "reliance": reliance,
        **{name: capturing(name) for name in extractors},
    }
    samples: dict[str, list[tuple[float, int, int, float]]] = {name: [] for name in calls}
    for round_ in range(repeats + 1):  # round 0 warms up
        for name, fn in calls.items():
            counter.reset()
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            if round_:
                samples[name].append((time.perf_counter() - start, counter.calls, counter.pictures, counter.seconds))
    counter.remove()
    # What one set of passes gives: a map for every answer token, and the same maps batched or one mask per pass.
    trace.data.perturbations.clear()
    maps_batched = torch.stack([trace.map(t, batched).map[0, 0] for t in range(spec.answer)])
    trace.data.perturbations.clear()
    maps_single = torch.stack([trace.map(t, single).map[0, 0] for t in range(spec.answer)])
    result: dict[str, Any] = {
        "case": asdict(spec),
        "tokens": int(sequence.shape[1]),
        "answer_tokens": spec.answer,
        "parameters": sum(p.numel() for p in model.parameters()),
        "cells": GRID_CELLS,
        "batch": BATCH,
        "answer_maps": int(torch.isfinite(maps_batched).all(dim=(1, 2)).sum()),
        "max_abs_difference": float((maps_batched - maps_single).abs().max()),
        "trace_bytes": {
            name: {"kept": kept[name], "estimated": extractor.estimate_trace_bytes(sequence, **inputs)}
            for name, extractor in extractors.items()
        },
    }
    for name, rows in samples.items():
        result[name] = {
            "seconds": statistics.median(r[0] for r in rows),
            "fastest": min(r[0] for r in rows),
            "samples": [r[0] for r in rows],
            "passes": rows[-1][1],
            "pictures": rows[-1][2],
            "model_seconds": statistics.median(r[3] for r in rows),
        }
    return result


def _bytes(tensor: torch.Tensor | None) -> int:
    return 0 if tensor is None else tensor.numel() * tensor.element_size()


def _seconds(value: float) -> str:
    return f"{value:.3f} s" if value >= 0.1 else f"{value * 1e3:.1f} ms"


def table(results: dict[str, Any]) -> list[str]:
    """The markdown table of ``results["perturbation"]`` (one row per case and call)."""
    lines = [
        "| model | tokens (answer) | call | passes (pictures) | median | / one forward | fastest | / one forward "
        "| in the model's forward |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "forward": "one forward, intact picture",
        "occlusion_batched": f"occlusion, 8 x 8 cells, {BATCH} per pass",
        "occlusion_single": "occlusion, 8 x 8 cells, 1 per pass",
        "reliance": "`trace.reliance()`",
        "capture": "capture",
        "capture_text_columns": "capture, `text_columns=True`",
    }
    for name, entry in results.items():
        if entry.get("status", "ok") != "ok":
            lines.append(f"| {name} | {entry.get('status')}: {entry.get('error', '')} ||||||")
            continue
        unit, fastest_unit = entry["forward"]["seconds"], entry["forward"]["fastest"]
        for call, label in labels.items():
            timing = entry[call]
            share = timing["model_seconds"] / timing["seconds"] if timing["seconds"] else 0.0
            lines.append(
                f"| {name} | {entry['tokens']} ({entry['answer_tokens']}) | {label} | {timing['passes']} "
                f"({timing['pictures']}) | {_seconds(timing['seconds'])} | {timing['seconds'] / unit:.1f}x "
                f"| {_seconds(timing['fastest'])} | {timing['fastest'] / fastest_unit:.1f}x | {share:.0%} |"
            )
    return lines


def summary(results: dict[str, Any]) -> list[str]:
    """One line per case: the ratios the README quotes."""
    lines = []
    for name, entry in results.items():
        if entry.get("status", "ok") != "ok":
            continue
        batched, single, forward, reliance = (
            entry[call] for call in ("occlusion_batched", "occlusion_single", "forward", "reliance")
        )
        bound = entry["cells"] // entry["batch"] + 1
        lines.append(
            f"- {name}: occlusion of all {entry['answer_maps']} answer tokens in {batched['passes']} passes "
            f"(at most {entry['cells']} / {entry['batch']} + 1 = {bound}), "
            f"{batched['seconds'] / forward['seconds']:.1f}x one forward (fastest runs: "
            f"{batched['fastest'] / forward['fastest']:.1f}x); one mask per pass {single['passes']} passes, "
            f"{single['seconds'] / batched['seconds']:.2f}x the batched time "
            f"({single['fastest'] / batched['fastest']:.2f}x), maps equal to {entry['max_abs_difference']:.1e}; "
            f"reliance {reliance['passes']} pass(es) of {reliance['pictures']} pictures, "
            f"{reliance['seconds'] / forward['seconds']:.1f}x one forward "
            f"({reliance['fastest'] / forward['fastest']:.1f}x)."
        )
        plain, columns = entry["capture"], entry["capture_text_columns"]
        sizes = entry["trace_bytes"]
        lines.append(
            f"- {name}: text columns make the capture {columns['seconds'] / plain['seconds']:.2f}x as long "
            f"(fastest runs: {columns['fastest'] / plain['fastest']:.2f}x) and the trace keep "
            f"{sizes['capture_text_columns']['kept'] / sizes['capture']['kept']:.2f}x the bytes "
            f"({sizes['capture']['kept']:,} -> {sizes['capture_text_columns']['kept']:,}; estimated beforehand "
            f"{sizes['capture']['estimated']:,} -> {sizes['capture_text_columns']['estimated']:,})."
        )
    return lines


def markdown(results: dict[str, Any]) -> list[str]:
    """The section of results.md (and of ``perturbation_results.md``)."""
    return [
        "## Occlusion, reliance and text columns",
        "",
        "Methods that run the model again on changed pictures, on the 8 x 8 grid of the toy processor's 96 px "
        "picture: `trace.map(t, lib.Occlusion(batch_size=...))` (its passes cleared before each call) and "
        "`trace.reliance()`, against one plain forward of the same sequence (`model(**inputs)` under `no_grad`); "
        "and the capture of that sequence without and with `text_columns=True` (one forward each: per-token gradients "
        "come later, on demand). "
        "Passes counted by a forward hook; medians and fastest of interleaved repeats after a warm-up (on a shared "
        "machine the fastest runs are the least disturbed). The last column is the "
        "share of the time spent inside the model's forward; the rest makes the changed pictures and runs the "
        "processor's image step on them.",
        "",
        *table(results),
        "",
        *summary(results),
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python -m bench perturbation [--quick] [--device cpu|cuda] [--repeats N] [--out bench/]``."""
    from .isolate import isolated

    parser = argparse.ArgumentParser(prog="python -m bench perturbation", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the toy model and a 4-token answer only")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default: 5, 2 with --quick)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent, help="folder for the results")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA build of torch and a GPU; this machine has none.")
    started = time.perf_counter()
    repeats = args.repeats or (2 if args.quick else 5)
    results = {
        case.name: isolated(
            perturbation, case=case, repeats=repeats, device=args.device, timeout=600.0, threads=args.threads
        )
        for case in (QUICK if args.quick else FULL)
    }
    wall = time.perf_counter() - started
    command = " ".join(["python -m bench perturbation", *(argv if argv is not None else sys.argv[1:])])
    from .__main__ import machine

    info = machine(args.device, args.threads)
    text = [
        "# Benchmark: occlusion, reliance and text columns",
        "",
        f"Command: `{command}`, {wall:.0f} s wall. Machine: {info['cpu']}, {info['cores']} cores "
        f"({info['threads']} torch thread), torch {info['torch']}, device {info['device']}.",
        "",
        *markdown(results),
        "",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"perturbation": results, "command": command, "wall_seconds": wall, "machine": info}
    (args.out / "perturbation_results.json").write_text(json.dumps(payload, indent=1) + "\n")
    (args.out / "perturbation_results.md").write_text("\n".join(text))
    print("\n".join(text))
    return payload


if __name__ == "__main__":
    main()
