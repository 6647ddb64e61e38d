"""The toy task: small pictures of shapes on a noisy gray background, and one question about them.

Every picture is :data:`IMAGE_SIZE` pixels square, cut into a :data:`GRID` x :data:`GRID` grid of
:data:`CELL`-pixel cells (the toy model's patches). Each shape lies inside one cell, and no two shapes share a cell,
so every shape is seen by exactly one image token.

One shape is coloured, the one or two others are gray, and the question is "What color is the shape?". The answer is
the coloured shape's colour: it can be read from nowhere but the patch that holds it.
"""

from __future__ import annotations

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

    @property
    def cell(self) -> tuple[int, int]:
        """(row, column) of the grid cell that holds the shape."""
        return self.box[1] // CELL, self.box[0] // CELL


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


def _draw(rng: np.random.Generator, pixels: np.ndarray, kind: str, rgb: np.ndarray, cell: tuple[int, int]) -> Box:
    """Paint a shape of ``kind`` in colour ``rgb`` into ``pixels`` [H, W, 3], 8 to 11 pixels wide, at a random place
    inside ``cell``; return its bounding box."""
    size = int(rng.integers(8, CELL))
    row, col = cell
    left, top = (int(offset) for offset in rng.integers(0, CELL - size + 1, size=2))
    right, bottom = left + size - 1, top + size - 1
    canvas = Image.new("1", (CELL, CELL), 0)
    draw = ImageDraw.Draw(canvas)
    if kind == "circle":
        draw.ellipse((left, top, right, bottom), fill=1)
    elif kind == "square":
        draw.rectangle((left, top, right, bottom), fill=1)
    else:
        draw.polygon(((left + right) / 2, top, right, bottom, left, bottom), fill=1)
    mask = np.asarray(canvas, dtype=bool)
    pixels[row * CELL : (row + 1) * CELL, col * CELL : (col + 1) * CELL][mask] = rgb
    rows, cols = np.flatnonzero(mask.any(axis=1)) + row * CELL, np.flatnonzero(mask.any(axis=0)) + col * CELL
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
        shapes.append(Shape(kind, colour, _draw(rng, pixels, kind, rgb, cell)))
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
