"""The faithfulness scoreboard tells a method that finds the queried shape from one that does not.

Regression guard on the first 20 held-out samples; measured when the scoreboard was written (these 20 samples, seed 0):
attention with align="predicting" pointing 0.80 and deletion AUC 0.20; the random map 0.00 and 0.65, energy 0.012.
"""

from __future__ import annotations

import pytest
import torch
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from vl_saliency_widget.core.regions import box_cells
from vl_saliency_widget.demo import toy_samples
from vl_saliency_widget.demo.data import CELL, GRID, HELD_OUT_SEED, IMAGE_SIZE
from vl_saliency_widget.demo.evaluate import (
    Scoreboard,
    centre_prior,
    configurations,
    evaluate,
    ranking,
    to_markdown,
)

Toy = tuple[LlavaForConditionalGeneration, LlavaProcessor]

POINTING_MARGIN = 0.5
"""Attention (align="predicting") must point at the queried shape this much more often than the random map."""


@pytest.fixture(scope="module")
def board(toy: Toy) -> Scoreboard:
    model, processor = toy
    return evaluate(model, processor, toy_samples(20, HELD_OUT_SEED), steps=4)


def test_attention_for_the_answer_points_far_above_the_random_map(board: Scoreboard) -> None:
    attention, random = board.scores[("attn", "predicting", "-")], board.scores[("random", "-", "-")]
    assert attention.pointing >= random.pointing + POINTING_MARGIN
    assert attention.energy > 5 * random.energy


def test_deleting_the_best_method_s_cells_loses_the_answer_faster_than_deleting_random_cells(board: Scoreboard) -> None:
    best = max(
        (key for key in board.scores if key[0] not in ("random", "centre")), key=lambda key: board.scores[key].pointing
    )
    assert board.scores[best].deletion_auc < 0.6 * board.scores[("random", "-", "-")].deletion_auc
    assert board.accuracy >= 0.95 and board.probability > 0.9 > board.blank_probability


def test_every_configuration_and_both_baselines_are_scored(board: Scoreboard) -> None:
    assert list(board.scores) == configurations()
    assert len(configurations()) == 3 * 2 + 5 * 2 * 2 + 4 + 2, (
        "gradient-free methods per align, the rest per align and gradients, the reference's four, baselines"
    )
    assert len(configurations(reference=False)) == len(configurations()) - 4
    random, centre = board.scores[("random", "-", "-")], board.scores[("centre", "-", "-")]
    assert 0 < random.energy < 0.05, "a uniform random map puts about 1/64 of its mass in the queried cell"
    assert 0 < centre.energy < 0.1 and centre.empty == random.empty == 0
    table = to_markdown(board)
    assert table.count("\n") == len(board.scores) + 1 and "| random | - | - |" in table


def test_the_box_covers_exactly_the_cell_of_the_queried_shape() -> None:
    for sample in toy_samples(30, HELD_OUT_SEED):
        cells = box_cells(sample.box, (IMAGE_SIZE, IMAGE_SIZE), (GRID, GRID)).reshape(-1)
        assert torch.nonzero(cells).flatten().tolist() == [sample.cell[0] * GRID + sample.cell[1]]
    assert box_cells((CELL - 1, 0, CELL + 1, 1), (IMAGE_SIZE, IMAGE_SIZE), (GRID, GRID)).sum() == 2


def test_the_reference_library_s_rows_are_its_own_maps_and_match_ours_computed_its_way(board: Scoreboard) -> None:
    """Its agcam and attention are ours under its conventions (token row, whole-sequence gradient): same scores
    (deletion runs every map in one batch, so its probabilities may differ in the last float bits)."""
    pairs = [(("agcam_reference", "token", "sequence"), ("vl-saliency agcam", "token", "sequence"))]
    pairs += [(("attn", "token", "-"), ("vl-saliency attn", "token", "-"))]
    for ours, theirs in pairs:
        a, b = board.scores[ours], board.scores[theirs]
        assert (a.pointing, a.energy, a.empty) == (b.pointing, b.energy, b.empty)
        assert a.deletion_auc == pytest.approx(b.deletion_auc, abs=1e-5)


def test_ties_are_broken_at_random_so_a_flat_map_points_like_chance() -> None:
    generator = torch.Generator().manual_seed(0)
    peaked = torch.zeros(GRID * GRID).index_fill(0, torch.tensor([9]), 1.0)
    assert ranking(peaked, generator)[0] == 9
    tops = {int(ranking(torch.zeros(GRID * GRID), generator)[0]) for _ in range(20)}
    assert len(tops) > 10
    prior = centre_prior((GRID, GRID))
    assert int(prior.argmax()) in {27, 28, 35, 36} and prior.min() > 0
