"""The toy task is deterministic, and every sample's box is where its answer is drawn, alone in its cell."""

from __future__ import annotations

import numpy as np

from vl_saliency_widget.demo import toy_samples
from vl_saliency_widget.demo.data import (
    BINDING_CELL,
    BINDING_IMAGE_SIZE,
    CELL,
    COLOURS,
    GRAY,
    IMAGE_SIZE,
    QUESTION,
    SHAPES,
    Sample,
    binding_sample,
    binding_samples,
    toy_sample,
)


def _coloured(sample: Sample) -> np.ndarray:
    """[H, W] bool: the pixels whose channels differ (the background and gray shapes have equal channels)."""
    pixels = np.asarray(sample.image).astype(int)
    return pixels.max(axis=2) != pixels.min(axis=2)


def test_the_same_seed_gives_the_same_samples_and_prefixes_agree() -> None:
    first, again = toy_samples(8, seed=3), toy_samples(8, seed=3)
    assert first == again
    assert toy_samples(4, seed=3) == first[:4]
    assert toy_samples(4, seed=4) != first[:4]
    assert toy_sample(3, 5) == first[5]
    assert all(sample.image.mode == "RGB" and sample.image.size == (IMAGE_SIZE, IMAGE_SIZE) for sample in first)


def test_every_shape_sits_alone_inside_one_cell() -> None:
    for sample in toy_samples(100, seed=1):
        cells = [shape.cell for shape in sample.shapes]
        assert len(set(cells)) == len(cells)
        for shape in sample.shapes:
            left, top, right, bottom = shape.box
            row, col = shape.cell
            assert col * CELL <= left < right <= (col + 1) * CELL
            assert row * CELL <= top < bottom <= (row + 1) * CELL
            assert 8 <= max(right - left, bottom - top) <= CELL - 1


def test_the_box_is_the_tight_box_of_the_only_coloured_pixels() -> None:
    for sample in toy_samples(100, seed=2):
        coloured = _coloured(sample)
        rows, cols = np.nonzero(coloured)
        assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == sample.box
        assert sample.cell == sample.shapes[0].cell
        assert np.abs(np.asarray(sample.image)[coloured] - np.asarray(COLOURS[sample.answer])).max() <= 21


def test_one_coloured_shape_answers_the_question_among_gray_distractors() -> None:
    samples = toy_samples(300, seed=5)
    for sample in samples:
        target, *distractors = sample.shapes
        assert sample.question == QUESTION
        assert sample.answer == target.colour in COLOURS
        assert 1 <= len(distractors) <= 2
        assert all(shape.colour == GRAY for shape in distractors)
    answers = {sample.answer for sample in samples}
    assert answers == set(COLOURS), "every colour is an answer"


def test_the_binding_task_is_deterministic_and_its_prefixes_agree() -> None:
    first = binding_samples(8, seed=3)
    assert first == binding_samples(8, seed=3)
    assert binding_samples(4, seed=3) == first[:4]
    assert binding_samples(4, seed=4) != first[:4]
    assert binding_sample(3, 5) == first[5]
    size = (BINDING_IMAGE_SIZE, BINDING_IMAGE_SIZE)
    assert all(sample.image.mode == "RGB" and sample.image.size == size for sample in first)


def test_binding_shapes_differ_in_kind_and_colour_and_sit_near_the_centre_of_their_own_cell() -> None:
    for sample in binding_samples(200, seed=1):
        assert 2 <= len(sample.shapes) <= 3
        assert len({shape.kind for shape in sample.shapes}) == len(sample.shapes)
        assert len({shape.colour for shape in sample.shapes}) == len(sample.shapes)
        assert len({shape.cell for shape in sample.shapes}) == len(sample.shapes)
        for shape in sample.shapes:
            left, top, right, bottom = shape.box
            row, col = shape.cell
            assert shape.cell_size == BINDING_CELL and shape.colour in COLOURS
            assert col * BINDING_CELL <= left < right <= (col + 1) * BINDING_CELL
            assert row * BINDING_CELL <= top < bottom <= (row + 1) * BINDING_CELL
            assert BINDING_CELL - 5 <= max(right - left, bottom - top) <= BINDING_CELL - 2
            # at most 2 px off the centre: the centre of the box is within 2.5 px of the cell's centre
            centre = ((left + right) / 2 - col * BINDING_CELL, (top + bottom) / 2 - row * BINDING_CELL)
            assert all(abs(c - BINDING_CELL / 2) <= 2.5 for c in centre)


def test_the_binding_question_names_the_first_shape_and_its_colour_is_drawn_only_in_its_box() -> None:
    samples = binding_samples(300, seed=5)
    for sample in samples:
        asked = sample.shapes[0]
        assert sample.question == f"What color is the {asked.kind}?"
        assert sample.answer == asked.colour
        pixels = np.asarray(sample.image).astype(int)
        near = np.abs(pixels - np.asarray(COLOURS[sample.answer])).max(axis=2) <= 20
        rows, cols = np.nonzero(near & _coloured(sample))
        left, top, right, bottom = sample.box
        assert len(rows) and cols.min() >= left and cols.max() < right and rows.min() >= top and rows.max() < bottom
    assert {sample.answer for sample in samples} == set(COLOURS)
    assert {sample.shapes[0].kind for sample in samples} == set(SHAPES)
    assert {len(sample.shapes) for sample in samples} == {2, 3}
