"""Passes of the model on changed pictures: what an answer relies on, not only where it looked.

A :class:`Perturber` holds the user's model and processor (nothing is copied) and the capture's processor outputs.
It re-runs the processor's image step on changed pictures (a cell hidden, random masks, the whole picture replaced
by a baseline) and the teacher-forced pass on the same tokens, and reads the log-probability of every token given
the ones before it. One batch of changed pictures serves every token of the answer at once.

The model is left as it was found: the passes run without autograd, in eval mode (no dropout), and the train/eval
flags are restored afterwards.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter
from torch import nn

from .inputs import teacher_forced_inputs

BASELINES = ("blur", "mean", "noise")
"""What a hidden part of a picture is filled with: a blurred copy of the picture, its mean colour, or noise."""

PROGRESS_AFTER_SECONDS = 1.0
"""A progress bar (tqdm, when installed) appears for computations that take longer than this."""


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Run the block in eval mode (no dropout) without autograd; the train/eval flags are restored after."""
    training = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            yield
    finally:
        for m, flag in training:
            m.training = flag


def baseline_picture(picture: Image.Image, baseline: str, seed: int = 0) -> Image.Image:
    """What hides part of ``picture``: a blurred copy (radius an eighth of its shorter side), its mean colour, or
    uniform noise drawn from ``seed``."""
    rgb = picture.convert("RGB")
    if baseline == "blur":
        return rgb.filter(ImageFilter.GaussianBlur(radius=max(1.0, min(rgb.size) / 8)))
    if baseline == "mean":
        mean = np.asarray(rgb, dtype=np.float64).reshape(-1, 3).mean(0)
        return Image.new("RGB", rgb.size, tuple(round(float(v)) for v in mean))
    if baseline == "noise":
        rng = np.random.default_rng(seed)
        return Image.fromarray(rng.integers(0, 256, (rgb.height, rgb.width, 3), dtype=np.uint8))
    raise ValueError(f"Unknown baseline {baseline!r}: choose one of {list(BASELINES)}.")


def blend(picture: Image.Image, baseline: Image.Image, keep: torch.Tensor) -> Image.Image:
    """``picture`` where ``keep`` [height, width] is 1, ``baseline`` where it is 0, mixed in between."""
    weight = keep.clamp(0, 1).numpy()[..., None]
    mixed = np.asarray(picture.convert("RGB"), dtype=np.float32) * weight
    mixed += np.asarray(baseline, dtype=np.float32) * (1 - weight)
    return Image.fromarray(np.clip(np.rint(mixed), 0, 255).astype(np.uint8))


def cell_masks(rows: int, cols: int, size: tuple[int, int]) -> torch.Tensor:
    """[rows * cols, height, width]: for each cell of a rows x cols grid over a (width, height) picture, row-major,
    a mask that is 0 on the cell's pixels and 1 elsewhere."""
    width, height = size
    ys = (torch.arange(height) + 0.5) * rows / height
    xs = (torch.arange(width) + 0.5) * cols / width
    cell_of = ys.long().clamp(max=rows - 1)[:, None] * cols + xs.long().clamp(max=cols - 1)[None, :]
    return (cell_of[None] != torch.arange(rows * cols)[:, None, None]).float()


def cell_means(masks: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """[n, rows, cols]: the mean of each [n, height, width] mask over each cell of a rows x cols grid."""
    return nn.functional.adaptive_avg_pool2d(masks[:, None], (rows, cols))[:, 0]


class RiseMasks:
    """RISE masks (arXiv 1806.07421) over a (width, height) picture: ``count`` random grid x grid cell patterns, each
    cell kept with probability ``keep``, upsampled bilinearly to (grid + 1) cells of the picture and shifted by a
    random offset within one cell, so the masks are smooth and their edges fall anywhere. ``masks(start, stop)``
    draws masks start..stop-1 [n, height, width], the same every time for the same ``seed``."""

    def __init__(self, count: int, size: tuple[int, int], grid: int, keep: float, seed: int) -> None:
        if count < 1 or grid < 1 or not 0 < keep < 1:
            raise ValueError(f"RISE needs n_masks >= 1, grid >= 1 and 0 < keep < 1, not {count}, {grid}, {keep}.")
        self.size = size
        generator = torch.Generator().manual_seed(seed)
        self.cells = (torch.rand(count, 1, grid, grid, generator=generator) < keep).float()
        width, height = size
        self.cell = (math.ceil(height / grid), math.ceil(width / grid))
        self.shifts = torch.stack(
            [torch.randint(0, c, (count,), generator=generator) for c in self.cell], dim=1
        ).tolist()

    def masks(self, start: int, stop: int) -> torch.Tensor:
        width, height = self.size
        grid = self.cells.shape[-1]
        cell_h, cell_w = self.cell
        up = nn.functional.interpolate(
            self.cells[start:stop], size=((grid + 1) * cell_h, (grid + 1) * cell_w), mode="bilinear"
        )
        # clamped: bilinear weights of 0/1 cells can overshoot 1 by a rounding error
        return torch.stack(
            [up[k, 0, y : y + height, x : x + width] for k, (y, x) in enumerate(self.shifts[start:stop])]
        ).clamp(0, 1)


def _progress(total: int, description: str) -> Callable[[int], None]:
    """A callback advancing a progress bar over ``total`` passes, shown once the work takes longer than
    ``PROGRESS_AFTER_SECONDS`` (tqdm's ``delay``); a no-op without tqdm."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return lambda _n: None
    bar = tqdm(total=total, desc=description, delay=PROGRESS_AFTER_SECONDS, leave=False)

    def advance(n: int) -> None:
        bar.update(n)
        if bar.n >= total:
            bar.close()

    return advance


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    # exact: the same image step on the same pictures gives the same bytes, or the pictures are not the capture's
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


class Perturber:
    """The user's model and processor, and one capture's inputs: passes on changed pictures.

    Args:
        model, processor: what the capture used (kept by reference, never copied).
        token_ids: every token of the sequence, prompt and answer.
        inputs: the processor outputs of the prompt as given to ``capture`` (``input_ids`` included).
        pictures: the original pictures, one per image of the prompt.

    Raises:
        ValueError: the processor's image step, re-run on the pictures, does not give the capture's inputs (the
            pictures are not the ones the processor was given, or the processor needs options it was called with).
    """

    def __init__(
        self,
        model: nn.Module,
        processor: Any,
        token_ids: Sequence[int],
        inputs: dict[str, torch.Tensor],
        pictures: Sequence[Image.Image],
    ) -> None:
        if "input_ids" not in inputs:
            raise ValueError("The capture's inputs lack input_ids: capture again to perturb this trace.")
        self.model = model
        self.processor = processor
        self.ids = torch.tensor([list(token_ids)], dtype=torch.long)
        self.inputs = inputs
        self.prompt_len = int(inputs["input_ids"].shape[1])
        self.pictures = [p.convert("RGB") for p in pictures]
        processed = self._process(self.pictures)
        self.image_keys = [k for k in processed if k in inputs]
        differ = [k for k in self.image_keys if not _same(processed[k], inputs[k])]
        if not self.image_keys or differ:
            raise ValueError(
                f"Re-running the image step of {type(processor).__name__} on the trace's pictures does not give the "
                f"capture's {differ or 'pixel inputs'}: perturbation methods need the original pictures, as given to "
                "the processor (capture(..., images=[...])), and the processor's default image options."
            )

    def _process(self, pictures: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        """The processor's image step on ``pictures``: its tensors by input name, as its ``__call__`` makes them."""
        processor = self.processor
        tokenizer = getattr(processor, "tokenizer", None)
        merge = getattr(processor, "_merge_kwargs", None)
        process = getattr(processor, "_process_images", None)
        if callable(merge) and callable(process):
            # The processor's own image step with the options its __call__ merges (Pixtral's adds its patch size).
            kwargs = merge(tokenizer_init_kwargs=getattr(tokenizer, "init_kwargs", {}), return_tensors="pt")
            try:
                processed, _ = process(list(pictures), **kwargs["images_kwargs"])
            except NotImplementedError:  # a processor that writes its image tokens another way (Idefics2)
                processed = processor.image_processor(list(pictures), **kwargs["images_kwargs"])
        else:
            processed = processor.image_processor(list(pictures), return_tensors="pt")
        return {k: v for k, v in processed.items() if isinstance(v, torch.Tensor)}

    def log_probs(self, picture_sets: Sequence[Sequence[Image.Image]], positions: torch.Tensor) -> torch.Tensor:
        """[len(picture_sets), len(positions)]: log p(token at p | tokens before p), one teacher-forced pass per set
        of pictures (all of them in one batch), read at each of ``positions``."""
        batch = [self._inputs(pictures) for pictures in picture_sets]
        merged = {
            key: torch.cat([b[key] for b in batch]) if isinstance(batch[0][key], torch.Tensor) else batch[0][key]
            for key in batch[0]
        }
        ids = merged["input_ids"]
        rows = (positions - 1).to(ids.device)
        with evaluating(self.model):
            logits = self.model(**merged, logits_to_keep=rows).logits
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        targets = ids[:, positions.to(ids.device)]
        return log_probs.gather(-1, targets[..., None])[..., 0].cpu()

    def _inputs(self, pictures: Sequence[Image.Image]) -> dict[str, Any]:
        inputs = dict(self.inputs)
        if any(changed is not original for changed, original in zip(pictures, self.pictures, strict=True)):
            processed = self._process(pictures)
            inputs |= {k: processed[k] for k in self.image_keys}
        return teacher_forced_inputs(self.model, self.ids, self.prompt_len, inputs)

    def scores(
        self,
        image_index: int,
        keeps: Callable[[int, int], torch.Tensor],
        count: int,
        baseline: str,
        positions: torch.Tensor,
        batch_size: int,
        description: str,
    ) -> torch.Tensor:
        """[count, len(positions)]: the log-probabilities of the tokens at ``positions`` with picture ``image_index``
        kept where mask k is 1 and the baseline elsewhere, ``batch_size`` pictures per pass; ``keeps(start, stop)``
        gives masks start..stop-1 as [n, height, width] (made a batch at a time, so memory stays one batch's)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}.")
        picture = self.pictures[image_index]
        hidden = baseline_picture(picture, baseline)
        advance = _progress(count, description)
        out = []
        for start in range(0, count, batch_size):
            sets = []
            for keep in keeps(start, min(count, start + batch_size)):
                changed = list(self.pictures)
                changed[image_index] = blend(picture, hidden, keep)
                sets.append(changed)
            out.append(self.log_probs(sets, positions))
            advance(len(sets))
        return torch.cat(out)


@dataclass(frozen=True)
class Reliance:
    """How much each token of the answer relies on the image: its log-probability with the pictures and with every
    picture replaced by a baseline.

    Attributes:
        with_image, without_image: FloatTensor [T] of log p(token | tokens before it), NaN where no token was scored
            (the prompt, image tokens).
        threshold: nats; a token relies on the image when hiding it costs more than this.
    """

    with_image: torch.Tensor
    without_image: torch.Tensor
    threshold: float

    @property
    def delta(self) -> torch.Tensor:
        """FloatTensor [T]: log p(token | image) - log p(token | image hidden); NaN where not scored."""
        return self.with_image - self.without_image

    @property
    def from_image(self) -> torch.Tensor:
        """BoolTensor [T]: whether the token came from the image (``delta > threshold``) rather than from the
        language prior; False where not scored."""
        return self.delta > self.threshold


PerturbationFn = Callable[[Perturber, int, tuple[int, int], torch.Tensor], torch.Tensor]
"""``fn(perturber, image_index, (rows, cols), positions) -> [len(positions), rows, cols]``: a perturbation method's
map of each token at ``positions`` over the rows x cols grid of one image."""


class Perturbations:
    """What a perturbation method reads for one image of a trace: the model's passes on changed pictures, whose
    results are kept with the trace (and saved with it), so one set of passes serves every token.

    Args:
        perturber: gives the trace's Perturber (raises, saying how to attach a model, when there is none).
        cache: the trace's computed tables by key; the tables are [T, rows, cols], NaN where no token was scored.
        image_index: the image the methods hide parts of.
        grid: (rows, cols) of the whole-picture grid the maps are on.
        positions: LongTensor of the positions scored: the answer's text tokens.
        length: T, the sequence's length.
    """

    def __init__(
        self,
        perturber: Callable[[], Perturber],
        cache: dict[str, torch.Tensor],
        image_index: int,
        grid: tuple[int, int],
        positions: torch.Tensor,
        length: int,
    ) -> None:
        self._perturber = perturber
        self._cache = cache
        self.image_index = image_index
        self.grid = grid
        self.positions = positions
        self.length = length

    def table(self, name: str, compute: PerturbationFn) -> torch.Tensor:
        """[T, rows, cols]: ``compute``'s maps of the scored tokens, computed once per ``name`` (the method and its
        settings) and image."""
        rows, cols = self.grid
        key = f"{name} image={self.image_index} grid={rows}x{cols}"
        if key not in self._cache:
            values = compute(self._perturber(), self.image_index, self.grid, self.positions)
            table = torch.full((self.length, rows, cols), float("nan"))
            table[self.positions] = values.float()
            self._cache[key] = table
        return self._cache[key]
