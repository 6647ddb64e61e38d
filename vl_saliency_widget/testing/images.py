"""Deterministic synthetic pictures for tests and docs."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

_COLOURS: tuple[tuple[int, int, int], ...] = (
    (220, 40, 40),
    (40, 170, 60),
    (40, 80, 220),
    (240, 200, 30),
    (150, 60, 190),
    (250, 130, 20),
)


def tiny_image(seed: int = 0, size: tuple[int, int] = (84, 56)) -> Image.Image:
    """A small RGB picture: a light background with a circle, a rectangle and a triangle in distinct colours.

    Args:
        seed: picks the background shade, the colours and the places of the shapes; the same seed and size always
            give the same pixels.
        size: ``(width, height)`` in pixels. The default is not square, so that resizing and grids of image tokens
            with different rows and columns are exercised.

    Returns:
        A ``PIL.Image.Image`` in mode ``"RGB"`` of the given size.
    """
    width, height = size
    rng = np.random.default_rng(seed)
    background = tuple(int(value) for value in rng.integers(200, 256, size=3))
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    circle, rectangle, triangle = (_COLOURS[index] for index in rng.permutation(len(_COLOURS))[:3])
    shape = max(4, min(width, height) // 3)

    def corner() -> tuple[int, int]:
        return int(rng.integers(0, max(1, width - shape))), int(rng.integers(0, max(1, height - shape)))

    x, y = corner()
    draw.ellipse((x, y, x + shape, y + shape), fill=circle)
    x, y = corner()
    draw.rectangle((x, y, x + shape, y + shape * 2 // 3), fill=rectangle)
    x, y = corner()
    draw.polygon(((x + shape // 2, y), (x + shape, y + shape), (x, y + shape)), fill=triangle)
    return image
