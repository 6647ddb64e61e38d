"""Faithfulness scoreboard: how well each saliency method finds the shape the toy model read its answer from.

For every held-out sample the toy model answers greedily; its answer token (the first generated token, teacher
forced on that answer) is mapped by every method x ``align`` x ``gradients``, each map the mean over layers and heads
on the picture's 8 x 8 grid of cells. The reference library (PyPI ``vl-saliency==1.1.6``, when installed) maps the
same token its own way (its capture, its token-row attention and whole-sequence gradient, its ``gradcam`` and
``agcam``) in rows named ``vl-saliency ...``. Three scores, averaged over the samples:

- **pointing game**: the map's largest cell is a cell that overlaps the queried shape's box (every shape lies inside
  one cell, so that is the shape's cell; a random cell scores 1 / 64).
- **energy**: the share of the map's positive mass that lies in the cells overlapping the box; negative values are
  clamped to 0 first, and a map with no positive value scores 0.
- **deletion AUC**: the teacher-forced probability of the answer token as the most salient cells are replaced by the
  picture's background (the mean colour of the pixels outside every shape's box), in ``steps`` equal steps from no
  cell to all cells; the area under that curve over the deleted fraction, lower is better.

Ties between cells (a flat or empty map) are broken by a seeded random order, so a map that says nothing scores as a
random one. Baselines in the same run: a uniform random map (seeded) and a centre prior (a Gaussian around the
picture's centre, standard deviation a quarter of the side).

Run ``python -m vl_saliency_widget.demo.evaluate --samples 300 --out scoreboard.md``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from .. import lib
from ..core.extractor import Gradients, SaliencyExtractor
from ..core.method import Method, needs_of_all
from ..core.regions import box_cells
from ..core.trace import Align, Trace
from ..lib.scores import energy as energy_share
from ..lib.scores import pointing, rankings
from ..lib.scores import ranking as ranking  # moved to lib.scores; still importable from here
from ..transforms import MaskSinks
from .data import HELD_OUT_SEED, TRAIN_SEED, Sample, toy_samples
from .model import load_toy_vlm
from .parts import chat_inputs

_SCORED: dict[str, Method] = {"attn": "attn", "attn, sinks masked": "attn", "grad": "grad", **lib.METHODS}
METHODS: dict[str, Method] = dict(sorted(_SCORED.items(), key=lambda item: needs_of_all([item[1]]).gradients))
"""The methods scored, by the name the table shows: ``trace.map(0, mode=...)``: the string modes and every method of
``lib.METHODS``, those that read no gradient first; "attn, sinks masked" is attention with
``T.MaskSinks(trace.sinks())`` applied before the mean over layers and heads."""

GRADIENT_FREE = tuple(name for name, method in METHODS.items() if not needs_of_all([method]).gradients)
"""Methods that read no gradient (by their declared needs): scored once per ``align``."""

REFERENCE_METHODS = ("attn", "grad", "gradcam", "agcam")
"""The reference library's methods, scored its way (token row, whole-sequence gradient)."""

ALIGNS: tuple[Align, ...] = ("predicting", "token")
GRADIENTS: tuple[Gradients, ...] = ("token", "sequence")
BASELINES = ("random", "centre")

Key = tuple[str, str, str]
"""(method, align, gradients) of one table row; "-" where a setting does not apply."""


def reference_library() -> Any | None:
    """The reference library's module, or None when it is not installed."""
    try:
        import vl_saliency  # type: ignore[import-not-found,unused-ignore]
        import vl_saliency.lib  # type: ignore[import-not-found,unused-ignore]  # its methods: vl_saliency.lib.agcam
    except ImportError:
        return None
    return vl_saliency


def configurations(reference: bool = True) -> list[Key]:
    """Every scored row: gradient-free methods once per ``align``, the gradient methods per ``align`` and
    ``gradients``, the reference library's methods (``reference=True``), then the baselines."""
    keys: list[Key] = []
    for method in METHODS:
        for align in ALIGNS:
            if method in GRADIENT_FREE:
                keys.append((method, align, "-"))
            else:
                keys.extend((method, align, g) for g in GRADIENTS)
    if reference:
        keys += [(f"vl-saliency {m}", "token", "-" if m == "attn" else "sequence") for m in REFERENCE_METHODS]
    return keys + [(name, "-", "-") for name in BASELINES]


@dataclass(frozen=True)
class Score:
    """The mean scores of one configuration over the samples.

    Attributes:
        pointing: share of samples whose top cell overlaps the queried box.
        energy: mean share of positive map mass in the cells overlapping the box.
        deletion_auc: mean area under the answer-probability curve as cells are deleted, top cells first.
        empty: share of maps with no positive value.
    """

    pointing: float
    energy: float
    deletion_auc: float
    empty: float


@dataclass(frozen=True)
class Scoreboard:
    """A finished run.

    Attributes:
        scores: per (method, align, gradients), its scores, in :func:`configurations` order.
        samples: how many samples were scored.
        accuracy: share of samples whose greedy answer is the right colour.
        probability: mean teacher-forced probability of the answer token on the intact picture.
        blank_probability: the same with every cell deleted.
        steps: deletion steps.
    """

    scores: dict[Key, Score]
    samples: int
    accuracy: float
    probability: float
    blank_probability: float
    steps: int


def centre_prior(grid: tuple[int, int]) -> torch.Tensor:
    """[rows, cols]: a Gaussian around the grid's centre with a standard deviation of a quarter of its side."""
    rows, cols = grid
    ys = (torch.arange(rows) + 0.5 - rows / 2) / (rows / 4)
    xs = (torch.arange(cols) + 0.5 - cols / 2) / (cols / 4)
    return torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / 2)


def _answer_maps(
    traces: dict[Gradients, Trace],
    reference: tuple[Any, dict[str, Any]] | None,
    generator: torch.Generator,
) -> dict[Key, torch.Tensor]:
    """[rows, cols] per configuration: the answer token's map, mean over layers and heads, and the baselines.

    ``reference``: the reference library's trace of the sample and its modes by name, or None.
    """
    maps: dict[Key, torch.Tensor] = {}
    sinks = traces["token"].sinks()
    for method, align, gradients in configurations(reference is not None):
        if method in BASELINES:
            continue
        if reference is not None and method.startswith("vl-saliency "):
            reference_trace, modes = reference
            mode = modes[method.removeprefix("vl-saliency ")]
            maps[(method, align, gradients)] = reference_trace.map(token=0, mode=mode).map.mean(dim=(0, 1))
            continue
        trace = traces["token" if gradients == "-" else cast(Gradients, gradients)]  # gradient-free: either trace
        saliency_map = trace.map(0, mode=METHODS[method], align=cast(Align, align))
        if method == "attn, sinks masked":
            saliency_map = saliency_map >> MaskSinks(sinks)
        maps[(method, align, gradients)] = saliency_map.agg().map[0, 0]
    grid = next(iter(maps.values())).shape
    maps[("random", "-", "-")] = torch.rand(grid, generator=generator)
    maps[("centre", "-", "-")] = centre_prior((grid[0], grid[1]))
    return maps


@torch.no_grad()
def _answer_probability(
    model: LlavaForConditionalGeneration, inputs: dict[str, torch.Tensor], pixel_values: torch.Tensor, answer: int
) -> torch.Tensor:
    """[n]: the probability of token ``answer`` after the prompt of ``inputs`` [1, T] with each of ``pixel_values``."""
    n = pixel_values.shape[0]
    logits = model(
        input_ids=inputs["input_ids"].expand(n, -1),
        attention_mask=inputs["attention_mask"].expand(n, -1),
        pixel_values=pixel_values,
        logits_to_keep=1,
    ).logits[:, -1]
    return torch.softmax(logits.float(), dim=-1)[:, answer]


def _deletion_curves(
    model: LlavaForConditionalGeneration,
    inputs: dict[str, torch.Tensor],
    sample: Sample,
    orders: torch.Tensor,
    grid: tuple[int, int],
    answer: int,
    steps: int,
) -> torch.Tensor:
    """[maps, steps + 1]: the answer's probability with the first ``round(k * cells / steps)`` cells of each order
    [maps, cells] (row-major over ``grid`` = (rows, cols)) replaced by the background colour, k = 0 .. steps.
    The intact and the blank picture are the same for every map and run once.

    The processed picture must be the original one resized to a whole number of pixels per cell (the toy
    processor keeps the 96 x 96 picture), so that the sample's boxes and the cells can be read on it.
    """
    pixels = inputs["pixel_values"][0]  # [3, H, W]
    rows, cols = grid
    height, width = pixels.shape[1:]
    if (width, height) != sample.image.size or height % rows or width % cols:
        raise ValueError(
            f"The processed picture is {width} x {height} pixels; deletion needs the original "
            f"{sample.image.size[0]} x {sample.image.size[1]}, cut into whole cells of the {rows} x {cols} grid."
        )
    outside = torch.ones(height, width, dtype=torch.bool)
    for left, top, right, bottom in (shape.box for shape in sample.shapes):
        outside[top:bottom, left:right] = False
    background = pixels[:, outside].mean(dim=1)[:, None, None]
    counts = [round(k * orders.shape[1] / steps) for k in range(1, steps)]
    deleted = torch.zeros(orders.shape[0], len(counts), orders.shape[1], dtype=torch.bool)
    for j, count in enumerate(counts):
        deleted[:, j].scatter_(1, orders[:, :count], True)
    masks = deleted.reshape(-1, rows, cols).repeat_interleave(height // rows, 1).repeat_interleave(width // cols, 2)
    batch = torch.cat(
        [
            pixels[None],
            torch.where(masks[:, None], background, pixels),
            background.expand_as(pixels)[None],
        ]
    )
    probability = _answer_probability(model, inputs, batch, answer)
    intact, middle, blank = probability[0], probability[1:-1].reshape(len(orders), -1), probability[-1]
    return torch.cat([intact.expand(len(orders), 1), middle, blank.expand(len(orders), 1)], dim=1)


def evaluate(
    model: LlavaForConditionalGeneration,
    processor: LlavaProcessor,
    samples: Sequence[Sample],
    *,
    steps: int = 8,
    seed: int = 0,
    reference: bool = True,
) -> Scoreboard:
    """Score every configuration on ``samples``.

    Args:
        model, processor: the toy model and its processor (``load_toy_vlm()``); deletion needs a processor that
            keeps the picture's size.
        samples: the pictures, questions and boxes (``toy_samples(n, HELD_OUT_SEED)``).
        steps: deletion steps from no cell to all cells.
        seed: seed of the random baseline and of the tie-breaking order.
        reference: score the reference library's methods too (skipped when ``vl_saliency`` is not installed).
    """
    generator = torch.Generator().manual_seed(seed)
    needed = [method for method in METHODS.values() if not isinstance(method, str)]
    extractors = {g: SaliencyExtractor(model, processor, gradients=g, methods=needed) for g in GRADIENTS}
    library = reference_library() if reference else None
    reference_model = None
    reference_modes: dict[str, Any] = {}
    if library is not None:  # the reference reads output_attentions: it needs eager attention
        reference_model = copy.deepcopy(model)
        reference_model.set_attn_implementation("eager")
        reference_modes = {m: m if m in ("attn", "grad") else getattr(library.lib, m) for m in REFERENCE_METHODS}
    batch = chat_inputs(processor, [sample.messages for sample in samples])
    with torch.no_grad():
        generated = model.generate(**batch, max_new_tokens=4, do_sample=False)
    prompt_len = batch["input_ids"].shape[1]
    said = processor.batch_decode(generated[:, prompt_len : prompt_len + 1], skip_special_tokens=True)
    keys = configurations(library is not None)
    hits = torch.zeros(len(keys))
    energy = torch.zeros(len(keys))
    empty = torch.zeros(len(keys))
    curves = torch.zeros(len(keys), steps + 1)
    for index, sample in enumerate(samples):
        inputs: dict[str, Any] = {name: value[index : index + 1] for name, value in batch.items()}
        sequence = generated[index : index + 1, : prompt_len + 2]  # the prompt, the answer word and </s>
        traces = {
            g: extractor.capture(**inputs, generated_ids=sequence, images=[sample.image])
            for g, extractor in extractors.items()
        }
        reference_maps = None
        if library is not None:
            reference_trace = library.SaliencyExtractor(reference_model, processor).capture(
                **inputs, generated_ids=sequence
            )
            reference_maps = (reference_trace, reference_modes)
        maps = _answer_maps(traces, reference_maps, generator)
        layout = traces["token"].image_layouts[0]
        target = box_cells(sample.box, layout.size, layout.views[0].grid).reshape(-1)
        flat = torch.stack([maps[key].reshape(-1) for key in keys])  # [configurations, cells]
        orders = rankings(flat, generator)
        hits += pointing(orders, target)
        energy += energy_share(flat, target)
        empty += (flat.clamp(min=0).sum(dim=1) == 0).float()
        curves += _deletion_curves(
            model, inputs, sample, orders, layout.views[0].grid, int(generated[index, prompt_len]), steps
        )
    n = len(samples)
    auc = torch.trapezoid(curves / n, dx=1 / steps, dim=1)
    scores = {
        key: Score(float(hits[i] / n), float(energy[i] / n), float(auc[i]), float(empty[i] / n))
        for i, key in enumerate(keys)
    }
    return Scoreboard(
        scores=scores,
        samples=n,
        accuracy=sum(word == sample.answer for word, sample in zip(said, samples, strict=True)) / n,
        probability=float(curves[0, 0] / n),
        blank_probability=float(curves[0, -1] / n),
        steps=steps,
    )


def to_markdown(board: Scoreboard) -> str:
    """The scoreboard as a markdown table, one row per configuration, best pointing score in bold."""
    best = max(score.pointing for key, score in board.scores.items() if key[0] not in BASELINES)
    lines = [
        "| method | align | gradients | pointing ↑ | energy ↑ | deletion AUC ↓ | maps with no positive value |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for (method, align, gradients), score in board.scores.items():
        pointing = f"{score.pointing:.3f}"
        if score.pointing == best and method not in BASELINES:
            pointing = f"**{pointing}**"
        lines.append(
            f"| {method} | {align} | {gradients} | {pointing} | {score.energy:.3f} | {score.deletion_auc:.3f} "
            f"| {score.empty:.2f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m vl_saliency_widget.demo.evaluate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--samples", type=int, default=300, help="held-out samples to score (default: 300)")
    parser.add_argument(
        "--seed", type=int, default=HELD_OUT_SEED, help=f"seed of the samples (default: {HELD_OUT_SEED}, held out)"
    )
    parser.add_argument("--steps", type=int, default=8, help="deletion steps (default: 8)")
    parser.add_argument("--out", type=Path, help="also write the report to this markdown file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args(argv)
    if args.seed >= TRAIN_SEED:
        parser.error(f"seeds from {TRAIN_SEED} up are the training streams; choose a seed below {TRAIN_SEED}.")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    model, processor = load_toy_vlm()
    board = evaluate(model, processor, toy_samples(args.samples, args.seed), steps=args.steps)
    elapsed = time.perf_counter() - started
    command = " ".join(["python -m vl_saliency_widget.demo.evaluate", *(sys.argv[1:] if argv is None else argv)])
    report = "\n".join(
        [
            "# Faithfulness scoreboard of the toy model",
            "",
            "The answer token's map (mean over layers and heads, 8 x 8 cells) per method, `align` and `gradients`. "
            "Pointing: the top cell overlaps the queried shape's box (random: 1/64 = 0.016). Energy: share of the "
            "positive mass (negatives clamped to 0; no positive value scores 0) in the cells overlapping the box. "
            "Deletion AUC: teacher-forced probability of the answer as the top cells are replaced by the background "
            "mean, area over the deleted fraction (lower is better). Ties are broken in a seeded random order. "
            "Definitions in `vl_saliency_widget/demo/evaluate.py`.",
            "",
            to_markdown(board),
            "",
            f"`{command}`: {board.samples} held-out samples (seed {args.seed}), greedy answer accuracy "
            f"{board.accuracy:.3f}; answer probability {board.probability:.3f} on the intact picture, "
            f"{board.blank_probability:.3f} with every cell deleted; {board.steps} deletion steps; "
            f"{elapsed:.0f} s on {args.threads} thread(s).",
        ]
    )
    print(report)
    if args.out is not None:
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
