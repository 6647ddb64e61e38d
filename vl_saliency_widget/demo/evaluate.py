"""Faithfulness scoreboard: how well each saliency method finds the shape a toy model read its answer from.

Two models: the toy model (``--task shape``, the default: one coloured shape, a vision tower that does not mix its
tokens) and the binding toy (``--task binding``: "What color is the circle?" among shapes of different colours, a
vision tower that attends globally and a 6-layer decoder, where the methods can disagree).

For every held-out sample the model answers greedily; its answer token (the first generated token, teacher forced on
that answer) is mapped by every method x ``align`` x ``gradients``, each map the mean over layers and heads on the
picture's grid of cells (8 x 8 for the toy model, 6 x 6 for the binding toy). Methods that run the model again on
changed pictures (their declared needs include the model: occlusion, RISE) read no attention row and no gradient, so
they are scored once (``align`` and ``gradients`` "-"), with the :data:`PERTURBATION_BASELINE` filling what they hide.
The reference library (PyPI ``vl-saliency==1.1.6``, when installed) maps the same token its own way (its capture, its
token-row attention and whole-sequence gradient, its ``gradcam`` and ``agcam``) in rows named ``vl-saliency ...``.
Scores, averaged over the samples:

- **pointing game**: the map's largest cell is a cell that overlaps the queried shape's box (every shape lies inside
  one cell, so that is the shape's cell; a random cell scores 1 / 64 on the toy model, 1 / 36 on the binding toy).
- **energy**: the share of the map's positive mass that lies in the cells overlapping the box; negative values are
  clamped to 0 first, and a map with no positive value scores 0.
- **deletion AUC**: the teacher-forced probability of the answer token as the most salient cells are replaced by the
  picture's background (the mean colour of the pixels outside every shape's box), in ``steps`` equal steps from no
  cell to all cells; the area under that curve over the deleted fraction, lower is better.
- **insertion AUC**: the mirror of deletion, with the same background: from the picture filled with the background
  (deletion's last picture), the most salient cells are put back, top cells first, in ``steps`` equal steps until
  the picture is whole (deletion's first picture); the area under the answer's probability curve over the inserted
  fraction, higher is better.
- **rank correlation with occlusion** (Spearman's rho, ties given their average rank; a constant map has none and
  scores 0): of the method's map with occlusion's, per sample, averaged over the samples whose answer relies on the
  image: how well the map predicts what the answer relies on. On the other samples occlusion has nothing to rank.
- **pointing on answers from the image**: the pointing game over the samples whose answer relies on the image.

A sample's answer **relies on the image** when the background picture (deletion's last) lowers its log-probability
by more than log 2 (its probability at least halves), ``trace.reliance``'s threshold. On the toy model every answer
but "blue" does: a picture with no coloured shape is answered "blue", so nothing in a picture is needed for it.

Ties between cells (a flat or empty map) are broken by a seeded random order, so a map that says nothing scores as a
random one; the methods that run the model draw that order from a stream of their own, so adding them left every
other row as it was. Baselines in the same run: a uniform random map (seeded) and a centre prior (a Gaussian around
the picture's centre, standard deviation a quarter of the side).

Run ``python -m vl_saliency_widget.demo.evaluate --samples 300 --out scoreboard.md`` (``--task binding --out
scoreboard_binding.md`` for the binding toy);
``--compare-baselines`` compares what occlusion hides cells with instead (:func:`compare_baselines`).
"""

from __future__ import annotations

import argparse
import copy
import math
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
from ..core.perturb import BASELINES as PERTURBATION_BASELINES
from ..core.regions import box_cells
from ..core.trace import Align, Trace
from ..lib.scores import energy as energy_share
from ..lib.scores import pointing
from ..lib.scores import ranking as ranking  # moved to lib.scores; still importable from here
from ..transforms import MaskSinks
from .data import HELD_OUT_SEED, TRAIN_SEED, Sample, binding_samples, toy_samples
from .model import grid_side, load_binding_vlm, load_toy_vlm
from .parts import chat_inputs

_SCORED: dict[str, Method] = {"attn": "attn", "attn, sinks masked": "attn", "grad": "grad", **lib.METHODS}
METHODS: dict[str, Method] = dict(sorted(_SCORED.items(), key=lambda item: needs_of_all([item[1]]).gradients))
"""The methods scored, by the name the table shows: ``trace.map(0, mode=...)``: the string modes and every method of
``lib.METHODS``, those that read no gradient first; "attn, sinks masked" is attention with
``T.MaskSinks(trace.sinks())`` applied before the mean over layers and heads. The methods that run the model are
scored with the settings of :func:`scored_methods`."""

MODEL_METHODS = tuple(name for name, method in METHODS.items() if needs_of_all([method]).model)
"""Methods that run the model again on changed pictures (their declared needs include the model): they read no
attention row and no gradient, so they are scored once, ``align`` and ``gradients`` "-"."""

GRADIENT_FREE = tuple(
    name for name, method in METHODS.items() if not needs_of_all([method]).gradients and name not in MODEL_METHODS
)
"""Methods that read attention but no gradient (by their declared needs): scored once per ``align``."""

REFERENCE_METHODS = ("attn", "grad", "gradcam", "agcam")
"""The reference library's methods, scored its way (token row, whole-sequence gradient)."""

ALIGNS: tuple[Align, ...] = ("predicting", "token")
GRADIENTS: tuple[Gradients, ...] = ("token", "sequence")
BASELINES = ("random", "centre")

OCCLUSION = "occlusion"
"""The method whose map the others are rank-correlated with: what the answer relies on, cell by cell."""

PERTURBATION_BASELINE = "mean"
"""What occlusion and RISE fill the hidden parts of a picture with on the scoreboard: the picture's mean colour,
the nearest of ``core.perturb.BASELINES`` to deletion's background (the mean outside the shapes' boxes). Chosen on the
facts (``--compare-baselines``, 300 held-out samples): hiding the queried shape's cell with the mean colour always
loses the answer and occlusion then points at it on every answer that relies on the image (1.000); the blur
baseline (radius 12 px, a cell's side) leaves a tint of the shape's colour in its cell, which the model still reads
on some samples (0.969 there), and noise puts colours into every hidden cell, which the model reads as answers
(0.602)."""

RISE_MASKS = 256
"""RISE's masks per sample on the scoreboard (``lib.rise``'s default; 8 per pass)."""

RELIES_ON_IMAGE = math.log(2)
"""Nats: a sample's answer relies on the image when the background picture lowers its log-probability by more."""

TOYS: dict[str, tuple[str, Any, Any]] = {
    "shape": ("the toy model", load_toy_vlm, toy_samples),
    "binding": ("the binding toy", load_binding_vlm, binding_samples),
}
"""The models ``--task`` scores: its name in the report, its loader and its held-out samples."""

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
    """Every scored row: the methods that run the model once, those that read attention but no gradient once per
    ``align``, the gradient methods per ``align`` and ``gradients``, the reference library's methods
    (``reference=True``), then the baselines."""
    keys: list[Key] = []
    for method in METHODS:
        if method in MODEL_METHODS:
            keys.append((method, "-", "-"))
            continue
        for align in ALIGNS:
            if method in GRADIENT_FREE:
                keys.append((method, align, "-"))
            else:
                keys.extend((method, align, g) for g in GRADIENTS)
    if reference:
        keys += [(f"vl-saliency {m}", "token", "-" if m == "attn" else "sequence") for m in REFERENCE_METHODS]
    return keys + [(name, "-", "-") for name in BASELINES]


def scored_methods(baseline: str = PERTURBATION_BASELINE, rise_masks: int = RISE_MASKS) -> dict[str, Method]:
    """:data:`METHODS` with occlusion and RISE set to fill what they hide with ``baseline`` and RISE to draw
    ``rise_masks`` masks (their other settings: ``lib.occlusion``'s and ``lib.rise``'s)."""
    methods = dict(METHODS)
    for name, method in METHODS.items():
        if isinstance(method, lib.Occlusion):
            methods[name] = lib.Occlusion(baseline=baseline, batch_size=method.batch_size)
        elif isinstance(method, lib.Rise):
            methods[name] = lib.Rise(
                n_masks=rise_masks,
                grid=method.grid,
                keep=method.keep,
                seed=method.seed,
                baseline=baseline,
                batch_size=method.batch_size,
            )
    return methods


@dataclass(frozen=True)
class Score:
    """The mean scores of one configuration over the samples.

    Attributes:
        pointing: share of samples whose top cell overlaps the queried box.
        energy: mean share of positive map mass in the cells overlapping the box.
        deletion_auc: mean area under the answer-probability curve as cells are deleted, top cells first.
        empty: share of maps with no positive value.
        insertion_auc: mean area under the answer-probability curve as cells are put back on the background
            picture, top cells first.
        occlusion_correlation: mean Spearman correlation of the map with occlusion's, over the samples whose answer
            relies on the image (NaN without an occlusion row or such a sample).
        pointing_from_image: pointing over the samples whose answer relies on the image (NaN without one).
    """

    pointing: float
    energy: float
    deletion_auc: float
    empty: float
    insertion_auc: float = float("nan")
    occlusion_correlation: float = float("nan")
    pointing_from_image: float = float("nan")


@dataclass(frozen=True)
class Scoreboard:
    """A finished run.

    Attributes:
        scores: per (method, align, gradients), its scores, in :func:`configurations` order.
        samples: how many samples were scored.
        accuracy: share of samples whose greedy answer is the right colour.
        probability: mean teacher-forced probability of the answer token on the intact picture.
        blank_probability: the same with every cell deleted.
        steps: deletion (and insertion) steps.
        from_image: how many samples' answers rely on the image (see the module's docstring).
        baseline: what occlusion and RISE filled hidden parts with.
        rise_masks: RISE's masks per sample.
    """

    scores: dict[Key, Score]
    samples: int
    accuracy: float
    probability: float
    blank_probability: float
    steps: int
    from_image: int = 0
    baseline: str = PERTURBATION_BASELINE
    rise_masks: int = RISE_MASKS


def centre_prior(grid: tuple[int, int]) -> torch.Tensor:
    """[rows, cols]: a Gaussian around the grid's centre with a standard deviation of a quarter of its side."""
    rows, cols = grid
    ys = (torch.arange(rows) + 0.5 - rows / 2) / (rows / 4)
    xs = (torch.arange(cols) + 0.5 - cols / 2) / (cols / 4)
    return torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / 2)


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """[maps, cells]: the rank of each value within its row of ``values`` [maps, cells], from 1 for the smallest, tied
    values given the mean of the ranks they share."""
    less = (values[:, None, :] < values[:, :, None]).sum(dim=-1)
    equal = (values[:, None, :] == values[:, :, None]).sum(dim=-1)
    return less.double() + (equal.double() + 1) / 2


def spearman(maps: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """FloatTensor [maps]: Spearman's rank correlation of each flat map of ``maps`` [maps, cells] with ``reference``
    [cells] (Pearson's correlation of their average ranks); 0 where either is constant (it ranks nothing)."""
    a = average_ranks(maps)
    b = average_ranks(reference[None])
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    scale = (a.square().sum(dim=1) * b.square().sum(dim=1)).sqrt()
    return torch.where(scale > 0, (a * b).sum(dim=1) / scale.clamp(min=1e-300), 0.0).float()


def _answer_maps(
    traces: dict[Gradients, Trace],
    reference: tuple[Any, dict[str, Any]] | None,
    generator: torch.Generator,
    methods: dict[str, Method] | None = None,
) -> dict[Key, torch.Tensor]:
    """[rows, cols] per configuration: the answer token's map, mean over layers and heads, and the baselines.

    ``reference``: the reference library's trace of the sample and its modes by name, or None. ``methods``: the
    methods by name (default :func:`scored_methods`).
    """
    methods = scored_methods() if methods is None else methods
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
        if method in MODEL_METHODS:  # no attention row: align does not apply
            saliency_map = trace.map(0, mode=methods[method])
        else:
            saliency_map = trace.map(0, mode=methods[method], align=cast(Align, align))
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


def _picture_and_background(
    inputs: dict[str, torch.Tensor], sample: Sample, grid: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The processed picture [3, H, W] and the background colour [3, 1, 1]: the mean of its pixels outside every
    shape's box.

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
    return pixels, pixels[:, outside].mean(dim=1)[:, None, None]


def _first_cells(orders: torch.Tensor, grid: tuple[int, int], steps: int, size: tuple[int, int]) -> torch.Tensor:
    """BoolTensor [maps * (steps - 1), H, W]: for each order [maps, cells] and k = 1 .. steps - 1, True on the pixels
    of its first ``round(k * cells / steps)`` cells."""
    rows, cols = grid
    height, width = size
    counts = [round(k * orders.shape[1] / steps) for k in range(1, steps)]
    chosen = torch.zeros(orders.shape[0], len(counts), orders.shape[1], dtype=torch.bool)
    for j, count in enumerate(counts):
        chosen[:, j].scatter_(1, orders[:, :count], True)
    return chosen.reshape(-1, rows, cols).repeat_interleave(height // rows, 1).repeat_interleave(width // cols, 2)


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
    The intact and the blank picture are the same for every map and run once (see
    :func:`_picture_and_background`)."""
    pixels, background = _picture_and_background(inputs, sample, grid)
    masks = _first_cells(orders, grid, steps, (pixels.shape[1], pixels.shape[2]))
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


def _insertion_curves(
    model: LlavaForConditionalGeneration,
    inputs: dict[str, torch.Tensor],
    sample: Sample,
    orders: torch.Tensor,
    grid: tuple[int, int],
    answer: int,
    steps: int,
    ends: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """[maps, steps + 1]: the mirror of :func:`_deletion_curves`: the answer's probability on the background picture
    with the first ``round(k * cells / steps)`` cells of each order put back, k = 0 .. steps. The two ends, the
    blank picture (k = 0) and the intact one (k = steps), are deletion's last and first pictures: ``ends`` holds
    their probabilities (blank, intact), read off deletion's curve rather than run again."""
    pixels, background = _picture_and_background(inputs, sample, grid)
    masks = _first_cells(orders, grid, steps, (pixels.shape[1], pixels.shape[2]))
    probability = _answer_probability(model, inputs, torch.where(masks[:, None], pixels, background), answer)
    blank, intact = ends
    middle = probability.reshape(len(orders), -1)
    return torch.cat([blank.expand(len(orders), 1), middle, intact.expand(len(orders), 1)], dim=1)


def evaluate(
    model: LlavaForConditionalGeneration,
    processor: LlavaProcessor,
    samples: Sequence[Sample],
    *,
    steps: int = 8,
    seed: int = 0,
    reference: bool = True,
    baseline: str = PERTURBATION_BASELINE,
    rise_masks: int = RISE_MASKS,
) -> Scoreboard:
    """Score every configuration on ``samples``.

    Args:
        model, processor: the toy model and its processor (``load_toy_vlm()``); deletion needs a processor that
            keeps the picture's size.
        samples: the pictures, questions and boxes (``toy_samples(n, HELD_OUT_SEED)``).
        steps: deletion and insertion steps from no cell to all cells.
        seed: seed of the random baseline and of the tie-breaking order (``seed + 1``: the tie-breaking order of the
            methods that run the model).
        reference: score the reference library's methods too (skipped when ``vl_saliency`` is not installed).
        baseline: what occlusion and RISE fill hidden parts with (:data:`PERTURBATION_BASELINE`).
        rise_masks: RISE's masks per sample (:data:`RISE_MASKS`; fewer for a quicker, noisier RISE row).
    """
    generator = torch.Generator().manual_seed(seed)
    model_generator = torch.Generator().manual_seed(seed + 1)
    methods = scored_methods(baseline, rise_masks)
    needed = [method for method in methods.values() if not isinstance(method, str)]
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
    by_model = [key[0] in MODEL_METHODS for key in keys]
    occlusion_row = keys.index((OCCLUSION, "-", "-")) if (OCCLUSION, "-", "-") in keys else None
    hits = torch.zeros(len(keys))
    hits_from_image = torch.zeros(len(keys))
    correlation = torch.zeros(len(keys))
    energy = torch.zeros(len(keys))
    empty = torch.zeros(len(keys))
    curves = torch.zeros(len(keys), steps + 1)
    inserted = torch.zeros(len(keys), steps + 1)
    from_image = 0
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
        maps = _answer_maps(traces, reference_maps, generator, methods)
        layout = traces["token"].image_layouts[0]
        grid = layout.views[0].grid
        target = box_cells(sample.box, layout.size, grid).reshape(-1)
        flat = torch.stack([maps[key].reshape(-1) for key in keys])  # [configurations, cells]
        # The rows scored before the model-running methods existed keep their stream of tie-breaking orders.
        orders = torch.stack(
            [ranking(values, model_generator if own else generator) for values, own in zip(flat, by_model, strict=True)]
        )
        hit = pointing(orders, target)
        hits += hit
        energy += energy_share(flat, target)
        empty += (flat.clamp(min=0).sum(dim=1) == 0).float()
        answer = int(generated[index, prompt_len])
        deletion = _deletion_curves(model, inputs, sample, orders, grid, answer, steps)
        curves += deletion
        inserted += _insertion_curves(
            model, inputs, sample, orders, grid, answer, steps, (deletion[0, -1], deletion[0, 0])
        )
        if float(deletion[0, 0].log() - deletion[0, -1].log()) > RELIES_ON_IMAGE:
            from_image += 1
            hits_from_image += hit
            if occlusion_row is not None:
                correlation += spearman(flat, flat[occlusion_row])
    n = len(samples)
    auc = torch.trapezoid(curves / n, dx=1 / steps, dim=1)
    insertion_auc = torch.trapezoid(inserted / n, dx=1 / steps, dim=1)
    nan = float("nan")
    correlated = from_image > 0 and occlusion_row is not None
    scores = {
        key: Score(
            pointing=float(hits[i] / n),
            energy=float(energy[i] / n),
            deletion_auc=float(auc[i]),
            empty=float(empty[i] / n),
            insertion_auc=float(insertion_auc[i]),
            occlusion_correlation=float(correlation[i] / from_image) if correlated else nan,
            pointing_from_image=float(hits_from_image[i] / from_image) if from_image else nan,
        )
        for i, key in enumerate(keys)
    }
    return Scoreboard(
        scores=scores,
        samples=n,
        accuracy=sum(word == sample.answer for word, sample in zip(said, samples, strict=True)) / n,
        probability=float(curves[0, 0] / n),
        blank_probability=float(curves[0, -1] / n),
        steps=steps,
        from_image=from_image,
        baseline=baseline,
        rise_masks=rise_masks,
    )


@dataclass(frozen=True)
class BaselineCheck:
    """Occlusion of the answer token with one baseline, over samples split by whether their answer relies on the
    image (the background picture halves its probability, as on the scoreboard).

    Attributes:
        baseline: what filled the hidden cell.
        pointing: occlusion's pointing over every sample.
        pointing_from_image: over the samples whose answer relies on the image.
        pointing_other: over the other samples (NaN without one).
        kept_cell: share of the samples whose answer relies on the image that keep it (probability above one half)
            with the queried shape's cell hidden: the baseline leaked the shape's colour.
        kept_picture: the same with the whole picture replaced by the baseline (``trace.reliance``).
        off_target: median over the samples whose answer relies on the image of the largest log-probability drop
            from hiding a cell other than the shape's, in nats.
        from_image, samples: how many samples' answers rely on the image, and how many samples.
    """

    baseline: str
    pointing: float
    pointing_from_image: float
    pointing_other: float
    kept_cell: float
    kept_picture: float
    off_target: float
    from_image: int
    samples: int


def compare_baselines(
    model: LlavaForConditionalGeneration,
    processor: LlavaProcessor,
    samples: Sequence[Sample],
    baselines: Sequence[str] = PERTURBATION_BASELINES,
) -> list[BaselineCheck]:
    """Occlusion with each of ``baselines`` on ``samples``: does it point at the shape, and does the hidden cell
    still carry the shape's colour (the evidence behind :data:`PERTURBATION_BASELINE`)."""
    batch = chat_inputs(processor, [sample.messages for sample in samples])
    with torch.no_grad():
        generated = model.generate(**batch, max_new_tokens=4, do_sample=False)
    prompt_len = batch["input_ids"].shape[1]
    occlusions = {b: lib.Occlusion(baseline=b) for b in baselines}
    extractor = SaliencyExtractor(model, processor, store_grads=False, methods=list(occlusions.values()))
    relies: list[bool] = []
    rows: dict[str, dict[str, list[float]]] = {b: {"hit": [], "cell": [], "picture": [], "off": []} for b in baselines}
    for index, sample in enumerate(samples):
        inputs: dict[str, Any] = {name: value[index : index + 1] for name, value in batch.items()}
        trace = extractor.capture(
            **inputs, generated_ids=generated[index : index + 1, : prompt_len + 2], images=[sample.image]
        )
        layout = trace.image_layouts[0]
        grid = layout.views[0].grid
        target = box_cells(sample.box, layout.size, grid).reshape(-1)
        pixels, background = _picture_and_background(inputs, sample, grid)
        answer = int(generated[index, prompt_len])
        intact, blank = _answer_probability(model, inputs, torch.stack([pixels, background.expand_as(pixels)]), answer)
        relies.append(float(intact.log() - blank.log()) > RELIES_ON_IMAGE)
        for b, occlusion in occlusions.items():
            drops = trace.map(0, occlusion).map.reshape(-1)  # log p(intact) - log p(cell hidden)
            reliance = trace.reliance(baseline=b)
            with_image = float(reliance.with_image[prompt_len])
            rows[b]["hit"].append(float(target[int(drops.argmax())]))
            rows[b]["cell"].append(math.exp(with_image - float(drops[target].max())))
            rows[b]["picture"].append(math.exp(float(reliance.without_image[prompt_len])))
            rows[b]["off"].append(float(drops[~target].max()))
    mask = torch.tensor(relies)

    def mean(values: list[float], where: torch.Tensor) -> float:
        chosen = torch.tensor(values)[where]
        return float(chosen.mean()) if len(chosen) else float("nan")

    return [
        BaselineCheck(
            baseline=b,
            pointing=mean(row["hit"], torch.ones_like(mask)),
            pointing_from_image=mean(row["hit"], mask),
            pointing_other=mean(row["hit"], ~mask),
            kept_cell=float((torch.tensor(row["cell"])[mask] > 0.5).float().mean()) if mask.any() else float("nan"),
            kept_picture=float((torch.tensor(row["picture"])[mask] > 0.5).float().mean())
            if mask.any()
            else float("nan"),
            off_target=float(torch.tensor(row["off"])[mask].median()) if mask.any() else float("nan"),
            from_image=int(mask.sum()),
            samples=len(samples),
        )
        for b, row in rows.items()
    ]


def baselines_markdown(checks: Sequence[BaselineCheck]) -> str:
    """:func:`compare_baselines`' result as a markdown table."""
    lines = [
        "| baseline | occlusion pointing | answers from the image | the other answers | shape's cell hidden: "
        "answer kept | whole picture hidden: answer kept | largest drop off the shape's cell (median, nats) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for check in checks:
        lines.append(
            f"| {check.baseline} | {check.pointing:.3f} | {check.pointing_from_image:.3f} | "
            f"{check.pointing_other:.3f} | {check.kept_cell:.3f} | {check.kept_picture:.3f} | "
            f"{check.off_target:.4f} |"
        )
    return "\n".join(lines)


def _cell(value: float, digits: int = 3) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def to_markdown(board: Scoreboard) -> str:
    """The scoreboard as a markdown table, one row per configuration, best pointing score in bold."""
    best = max(score.pointing for key, score in board.scores.items() if key[0] not in BASELINES)
    lines = [
        "| method | align | gradients | pointing ↑ | energy ↑ | deletion AUC ↓ | insertion AUC ↑ | rank correlation "
        "with occlusion ↑ | pointing, answers from the image ↑ | maps with no positive value |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (method, align, gradients), score in board.scores.items():
        pointing = f"{score.pointing:.3f}"
        if score.pointing == best and method not in BASELINES:
            pointing = f"**{pointing}**"
        lines.append(
            f"| {method} | {align} | {gradients} | {pointing} | {score.energy:.3f} | {score.deletion_auc:.3f} "
            f"| {_cell(score.insertion_auc)} | {_cell(score.occlusion_correlation)} "
            f"| {_cell(score.pointing_from_image)} | {score.empty:.2f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m vl_saliency_widget.demo.evaluate", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--task", choices=list(TOYS), default="shape", help="the toy model (shape, default) or the binding toy"
    )
    parser.add_argument("--samples", type=int, default=300, help="held-out samples to score (default: 300)")
    parser.add_argument(
        "--seed", type=int, default=HELD_OUT_SEED, help=f"seed of the samples (default: {HELD_OUT_SEED}, held out)"
    )
    parser.add_argument("--steps", type=int, default=8, help="deletion and insertion steps (default: 8)")
    parser.add_argument(
        "--baseline",
        choices=PERTURBATION_BASELINES,
        default=PERTURBATION_BASELINE,
        help=f"what occlusion and RISE fill hidden parts with (default: {PERTURBATION_BASELINE})",
    )
    parser.add_argument(
        "--rise-masks", type=int, default=RISE_MASKS, help=f"RISE's masks per sample (default: {RISE_MASKS})"
    )
    parser.add_argument(
        "--compare-baselines",
        action="store_true",
        help="instead of the scoreboard, compare occlusion's baselines (does the hidden cell leak the shape's colour)",
    )
    parser.add_argument("--out", type=Path, help="also write the report to this markdown file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args(argv)
    if args.seed >= TRAIN_SEED:
        parser.error(f"seeds from {TRAIN_SEED} up are the training streams; choose a seed below {TRAIN_SEED}.")
    if args.rise_masks < 1:
        parser.error("--rise-masks must be at least 1.")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    name, load, held_out = TOYS[args.task]
    model, processor = load()
    samples = held_out(args.samples, args.seed)
    grid = grid_side(processor)
    cells = f"{grid} x {grid} cells"
    command = " ".join(["python -m vl_saliency_widget.demo.evaluate", *(sys.argv[1:] if argv is None else argv)])
    if args.compare_baselines:
        checks = compare_baselines(model, processor, samples)
        elapsed = time.perf_counter() - started
        report = "\n".join(
            [
                f"# What occlusion hides a cell with, on {name}",
                "",
                f"Occlusion of the answer token ({cells}, the hidden cell filled with each baseline). A sample's "
                "answer relies on the image when the background picture (the mean outside the shapes' boxes) at "
                "least halves its probability. Answer kept: its probability stays above one half.",
                "",
                baselines_markdown(checks),
                "",
                f"`{command}`: {checks[0].samples} held-out samples (seed {args.seed}), {checks[0].from_image} "
                f"of whose answers rely on the image; {elapsed:.0f} s on {args.threads} thread(s).",
            ]
        )
    else:
        board = evaluate(
            model,
            processor,
            samples,
            steps=args.steps,
            baseline=args.baseline,
            rise_masks=args.rise_masks,
        )
        elapsed = time.perf_counter() - started
        report = "\n".join(
            [
                f"# Faithfulness scoreboard of {name}",
                "",
                f"The answer token's map (mean over layers and heads, {cells}) per method, `align` and `gradients`; "
                "occlusion and RISE run the model on changed pictures and read no attention row or gradient, so they "
                "have one row. Pointing: the top cell overlaps the queried shape's box "
                f"(random: 1/{grid * grid} = {1 / grid**2:.3f}). "
                "Energy: share of the positive mass (negatives clamped to 0; no positive value scores 0) in the cells "
                "overlapping the box. Deletion AUC: teacher-forced probability of the answer as the top cells are "
                "replaced by the background mean, area over the deleted fraction (lower is better). Insertion AUC: "
                "the same from the background picture as the top cells are put back (higher is better). Rank "
                "correlation with occlusion: Spearman's rho of the map with occlusion's, averaged over the samples "
                "whose answer relies on the image (the background picture at least halves its probability); pointing "
                "on those samples alone beside it. Ties are broken in a seeded random order. Definitions in "
                "`vl_saliency_widget/demo/evaluate.py`.",
                "",
                to_markdown(board),
                "",
                f"`{command}`: {board.samples} held-out samples (seed {args.seed}), greedy answer accuracy "
                f"{board.accuracy:.3f}; answer probability {board.probability:.3f} on the intact picture, "
                f"{board.blank_probability:.3f} with every cell deleted; {board.from_image} answers rely on the "
                f"image; {board.steps} deletion and insertion steps; occlusion and RISE ({board.rise_masks} masks) "
                f"fill hidden parts with the {board.baseline} baseline; {elapsed:.0f} s on {args.threads} thread(s).",
            ]
        )
    print(report)
    if args.out is not None:
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
