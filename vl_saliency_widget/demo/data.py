"""The toy tasks: small pictures of shapes on a noisy gray background, and one question about them.

Every picture is cut into a square grid of cells (the toy model's patches). Each shape lies inside one cell, and no
two shapes share a cell, so every shape is seen by exactly one patch.

- :func:`toy_samples` (the first toy model's task): :data:`IMAGE_SIZE` pixels in :data:`CELL`-pixel cells. One shape
  is coloured, the one or two others are gray, and the question is "What color is the shape?". The answer is the
  coloured shape's colour: it can be read from nowhere but the patch that holds it.
- :func:`binding_samples` (the binding toy's task): :data:`BINDING_IMAGE_SIZE` pixels in :data:`BINDING_CELL`-pixel
  cells, two or three shapes of different kinds and different colours, and the question names one kind: "What color
  is the circle?". The answer is in the named shape's patch, but only a model that binds each colour to its shape
  can tell which of the colours present it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 96
"""Width and height of every picture, in pixels."""

CELL = 12
"""Width and height of one grid cell (one patch of the toy model's vision tower), in pixels."""

GRID = IMAGE_SIZE // CELL
"""Cells per row and per column."""

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "green": (40, 165, 60),
    "blue": (45, 80, 220),
    "yellow": (235, 205, 35),
    "purple": (145, 60, 190),
    "orange": (245, 130, 25),
}
"""The colour words and the RGB colour each names (drawn with a small random shift per channel)."""

GRAY = "gray"
"""The colour of the distractor shapes."""

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
"""The kinds of shape."""

Box = tuple[int, int, int, int]
"""(left, top, right, bottom) in pixels; ``right`` and ``bottom`` are exclusive, as in ``PIL.Image.crop``."""


@dataclass(frozen=True)
class Shape:
    """One shape of a picture.

    Attributes:
        kind: one of :data:`SHAPES`.
        colour: a key of :data:`COLOURS`, or :data:`GRAY`.
        box: the tight bounding box of its pixels, (left, top, right, bottom) in pixels, right and bottom exclusive.
    """

    kind: str
    colour: str
    box: Box
    cell_size: int = CELL
    """The side of the grid's cells in pixels: :data:`CELL`, or :data:`BINDING_CELL` for the binding task."""

    @property
    def cell(self) -> tuple[int, int]:
        """(row, column) of the grid cell that holds the shape."""
        return self.box[1] // self.cell_size, self.box[0] // self.cell_size


@dataclass(frozen=True)
class Sample:
    """One picture with its question and answer.

    Attributes:
        image: the picture, RGB, :data:`IMAGE_SIZE` x :data:`IMAGE_SIZE` pixels.
        question: the user's question.
        answer: the expected answer, one word.
        shapes: every shape of the picture; ``shapes[0]`` is the one the question is about.
    """

    image: Image.Image
    question: str
    answer: str
    shapes: tuple[Shape, ...]

    @property
    def box(self) -> Box:
        """The bounding box of the shape the question is about: the only place the answer can be read from."""
        return self.shapes[0].box

    @property
    def cell(self) -> tuple[int, int]:
        """(row, column) of the grid cell that holds the shape the question is about."""
        return self.shapes[0].cell

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The user turn, picture then question, for ``processor.apply_chat_template(sample.messages, ...)``."""
        content = [{"type": "image", "image": self.image}, {"type": "text", "text": self.question}]
        return [{"role": "user", "content": content}]


def _draw(
    rng: np.random.Generator,
    pixels: np.ndarray,
    kind: str,
    rgb: np.ndarray | Callable[[], np.ndarray],
    cell: tuple[int, int],
    cell_size: int = CELL,
    sizes: tuple[int, int] = (8, CELL - 1),
    jitter: int | None = None,
) -> Box:
    """Paint a shape of ``kind`` in colour ``rgb`` into ``pixels`` [H, W, 3], ``sizes[0]`` to ``sizes[1]`` pixels
    wide, inside ``cell`` of a grid of ``cell_size``-pixel cells; return its bounding box.

    The shape goes anywhere inside the cell, or, with ``jitter``, at most ``jitter`` pixels off the cell's centre.
    ``rgb`` may be a function that draws the colour once the shape is placed (the binding task draws in that order).
    """
    size = int(rng.integers(sizes[0], sizes[1] + 1))
    row, col = cell
    low, high = 0, cell_size - size
    if jitter is not None:
        centred = (cell_size - size) // 2
        low, high = max(low, centred - jitter), min(high, centred + jitter)
    left, top = (int(offset) for offset in rng.integers(low, high + 1, size=2))
    right, bottom = left + size - 1, top + size - 1
    canvas = Image.new("1", (cell_size, cell_size), 0)
    draw = ImageDraw.Draw(canvas)
    if kind == "circle":
        draw.ellipse((left, top, right, bottom), fill=1)
    elif kind == "square":
        draw.rectangle((left, top, right, bottom), fill=1)
    else:
        draw.polygon(((left + right) / 2, top, right, bottom, left, bottom), fill=1)
    mask = np.asarray(canvas, dtype=bool)
    colour = rgb() if callable(rgb) else rgb
    pixels[row * cell_size : (row + 1) * cell_size, col * cell_size : (col + 1) * cell_size][mask] = colour
    rows = np.flatnonzero(mask.any(axis=1)) + row * cell_size
    cols = np.flatnonzero(mask.any(axis=0)) + col * cell_size
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


QUESTION = "What color is the shape?"
"""The question of every sample."""


def toy_sample(seed: int, index: int) -> Sample:
    """Sample ``index`` of the stream that ``seed`` names; the same pair always gives the same pixels.

    The background is a gray level between 100 and 150 with Gaussian noise (standard deviation 12) on every pixel,
    the same in the three channels. Shapes are circles, squares and triangles, 8 to 11 pixels wide, each inside its
    own cell. The coloured shape takes a colour of :data:`COLOURS` (each channel shifted by up to 20); the one or two
    gray distractors are darker (40 to 75) or lighter (185 to 225) than any background, so they stand out as shapes
    but carry no colour.
    """
    rng = np.random.default_rng([seed, index])
    pixels = rng.normal(rng.uniform(100, 150), 12, size=(IMAGE_SIZE, IMAGE_SIZE, 1)).repeat(3, axis=2)
    kinds = [str(kind) for kind in rng.choice(SHAPES, size=1 + int(rng.integers(1, 3)))]
    colours = [str(rng.choice(list(COLOURS))), *[GRAY] * (len(kinds) - 1)]
    cells = [divmod(int(cell), GRID) for cell in rng.choice(GRID * GRID, size=len(kinds), replace=False)]
    shapes = []
    for kind, colour, cell in zip(kinds, colours, cells, strict=True):
        if colour == GRAY:
            rgb = np.full(3, rng.uniform(40, 75) if rng.random() < 0.5 else rng.uniform(185, 225))
        else:
            rgb = np.asarray(COLOURS[colour]) + rng.uniform(-20, 20, size=3)
        shapes.append(Shape(kind, colour, _draw(rng, pixels, kind, rgb, cell, sizes=(8, CELL - 1))))
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    return Sample(image=image, question=QUESTION, answer=colours[0], shapes=tuple(shapes))


def toy_samples(n: int, seed: int = 0) -> list[Sample]:
    """The first ``n`` samples of the stream that ``seed`` names (see :func:`toy_sample`).

    Samples do not depend on ``n``: ``toy_samples(10, s)[:5] == toy_samples(5, s)``. The toy model was trained on
    seeds from :data:`TRAIN_SEED` up; :data:`HELD_OUT_SEED` gives pictures it never saw.
    """
    return [toy_sample(seed, index) for index in range(n)]


TRAIN_SEED = 1_000
"""First seed of the training streams (the training script uses one stream per step, ``TRAIN_SEED + step``)."""

HELD_OUT_SEED = 0
"""The seed of the held-out samples: the default of :func:`toy_samples`."""


BINDING_IMAGE_SIZE = 96
"""Width and height of every picture of the binding task, in pixels."""

BINDING_CELL = 16
"""Width and height of one grid cell of the binding task (one patch of the binding toy's vision tower), in pixels."""

BINDING_GRID = BINDING_IMAGE_SIZE // BINDING_CELL
"""Cells per row and per column of the binding task."""


def binding_sample(seed: int, index: int) -> Sample:
    """Sample ``index`` of the binding task's stream that ``seed`` names; the same pair always gives the same pixels.

    Two or three shapes, each of a different kind (:data:`SHAPES`) and a different colour (:data:`COLOURS`, each
    channel shifted by up to 20), 11 to 14 pixels wide and at most 2 pixels off the centre of their own cell, on a
    gray background (a level between 100 and 150, Gaussian noise of standard deviation 6 on every pixel). The
    question names one of the kinds, "What color is the circle?", and the answer is that shape's colour;
    ``shapes[0]`` is the shape asked about, the others follow in drawing order.
    """
    rng = np.random.default_rng([seed, index])
    size, cell_size, grid = BINDING_IMAGE_SIZE, BINDING_CELL, BINDING_GRID
    pixels = rng.normal(rng.uniform(100, 150), 6, size=(size, size, 1)).repeat(3, axis=2)
    count = int(rng.integers(2, 4))
    kinds = [str(kind) for kind in rng.choice(SHAPES, size=count, replace=False)]
    colours = [str(colour) for colour in rng.choice(list(COLOURS), size=count, replace=False)]
    cells = [divmod(int(cell), grid) for cell in rng.choice(grid * grid, size=count, replace=False)]
    shapes = []
    for kind, colour, cell in zip(kinds, colours, cells, strict=True):

        def rgb(colour: str = colour) -> np.ndarray:
            return np.asarray(COLOURS[colour]) + rng.uniform(-20, 20, size=3)

        box = _draw(rng, pixels, kind, rgb, cell, cell_size, sizes=(cell_size - 5, cell_size - 2), jitter=2)
        shapes.append(Shape(kind, colour, box, cell_size))
    asked = int(rng.integers(count))
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    ordered = (shapes[asked], *shapes[:asked], *shapes[asked + 1 :])
    return Sample(image=image, question=f"What color is the {kinds[asked]}?", answer=colours[asked], shapes=ordered)


def binding_samples(n: int, seed: int = HELD_OUT_SEED) -> list[Sample]:
    """The first ``n`` samples of the binding task's stream that ``seed`` names (see :func:`binding_sample`); as
    :func:`toy_samples`, prefixes agree, the binding toy was trained on seeds from :data:`TRAIN_SEED` up and
    :data:`HELD_OUT_SEED` gives pictures it never saw."""
    return [binding_sample(seed, index) for index in range(n)]


DESCRIBE = "Describe the shapes."
"""The binding toy's second question, asked in training only: its answer is :func:`description`."""


def description(sample: Sample) -> str:
    """Every shape of ``sample`` as its kind then its colour, in the order of ``sample.shapes``: ``"square yellow
    circle purple triangle green"``.

    That order is random with respect to where the shapes are (the shape asked about, then the drawing order), so a
    model cannot learn the colours from a shape's rank in reading order: it has to find the shape it has just named.
    (Described in reading order, where rank alone tells the colours, the binding toy's answers to the question stayed
    at chance for 1,900 steps.)
    """
    return " ".join(f"{shape.kind} {shape.colour}" for shape in sample.shapes)
