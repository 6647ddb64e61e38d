"""The faithfulness scoreboard tells a method that finds the queried shape from one that does not.

Regression guard on the first 20 held-out samples; measured when the scoreboard was written (these 20 samples, seed 0):
attention with align="predicting" pointing 0.80 and deletion AUC 0.20; the random map 0.00 and 0.65, energy 0.012.
"""

from __future__ import annotations

import pytest
import torch
from transformers import LlavaForConditionalGeneration, LlavaProcessor

import vl_saliency_widget.demo.evaluate as evaluate_module
from vl_saliency_widget import lib
from vl_saliency_widget.core.method import needs_of
from vl_saliency_widget.core.regions import box_cells
from vl_saliency_widget.demo import toy_samples
from vl_saliency_widget.demo.data import CELL, GRID, HELD_OUT_SEED, IMAGE_SIZE
from vl_saliency_widget.demo.evaluate import (
    Key,
    Scoreboard,
    centre_prior,
    configurations,
    evaluate,
    ranking,
    reference_library,
    to_markdown,
)

Toy = tuple[LlavaForConditionalGeneration, LlavaProcessor]
Scored = tuple[Scoreboard, list[dict[Key, torch.Tensor]]]

POINTING_MARGIN = 0.5
"""Attention (align="predicting") must point at the queried shape this much more often than the random map."""

STEPS = 4
"""Deletion steps of the test's run."""

MAP_TOLERANCE = 1e-5
"""Our maps computed the reference library's way and its own are the same float32 values computed by different kernels
(our capture and backward, its eager ones), summed in different orders: they agree to a few ulps (measured: 3e-7
relative). 1e-5 is ~80 ulps, taken of the map's largest value because the maps' scales differ by 10^7 (agcam ~1e-9,
attention ~0.1)."""


@pytest.fixture(scope="module")
def scored(toy: Toy) -> Scored:
    """The scoreboard of the first 20 held-out samples, and per sample the maps it scored (as ``evaluate`` made
    them)."""
    model, processor = toy
    maps: list[dict[Key, torch.Tensor]] = []
    answer_maps = evaluate_module._answer_maps

    def recorded(*args: object) -> dict[Key, torch.Tensor]:
        result = answer_maps(*args)  # type: ignore[arg-type]
        maps.append(result)
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate_module, "_answer_maps", recorded)
        board = evaluate(model, processor, toy_samples(20, HELD_OUT_SEED), steps=STEPS)
    return board, maps


@pytest.fixture(scope="module")
def board(scored: Scored) -> Scoreboard:
    return scored[0]


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
    assert list(board.scores) == configurations(reference=reference_library() is not None)
    # Every built-in method is scored: those whose declared needs hold no gradient once per align, the rest per
    # align and gradients; then the string modes, the reference's four and the baselines.
    rows = {name: sum(key[0] == name for key in configurations()) for name in lib.METHODS}
    assert rows == {name: 2 if not needs_of(method).gradients else 4 for name, method in lib.METHODS.items()}
    assert rows["rollout"] == 2 and rows["gradcam"] == 4
    assert len(configurations()) == 2 * 2 + 1 * 4 + sum(rows.values()) + 4 + 2, (
        "attn and masked attn per align, grad per align and gradients, lib.METHODS, the reference's four, baselines"
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


def test_the_reference_library_s_rows_are_its_own_maps_and_match_ours_computed_its_way(scored: Scored) -> None:
    """Its agcam and attention are ours under its conventions (token row, whole-sequence gradient): the same maps up
    to float32 rounding, so the same scores except where rounding may swap two cells it cannot tell apart."""
    pytest.importorskip("vl_saliency")
    board, maps = scored
    n = board.samples
    pairs = [(("agcam_reference", "token", "sequence"), ("vl-saliency agcam", "token", "sequence"))]
    pairs += [(("attn", "token", "-"), ("vl-saliency attn", "token", "-"))]
    for ours, theirs in pairs:
        top_swaps = cut_swaps = empty_swaps = 0
        for index, sample_maps in enumerate(maps):
            mine, its = sample_maps[ours].reshape(-1), sample_maps[theirs].reshape(-1)
            scale = float(its.abs().max())
            torch.testing.assert_close(mine, its, rtol=MAP_TOLERANCE, atol=MAP_TOLERANCE * scale, msg=str(ours))
            # Ranked with the same tie-breaking order, the two orders differ only where rounding swapped two cells
            # (which the closeness above bounds to within 2 * tolerance of each other).
            order, its_order = (ranking(values, torch.Generator().manual_seed(index)) for values in (mine, its))
            top_swaps += int(order[0] != its_order[0])
            cuts = [round(k * mine.numel() / STEPS) for k in range(1, STEPS)]  # the cells deleted, as evaluate does
            cut_swaps += sum(set(order[:cut].tolist()) != set(its_order[:cut].tolist()) for cut in cuts)
            empty_swaps += int(bool(mine.max() <= 0) != bool(its.max() <= 0))
        a, b = board.scores[ours], board.scores[theirs]
        # A swapped top cell changes one sample's hit, an emptied map one sample's count and share: 1/n each.
        assert a.pointing == pytest.approx(b.pointing, abs=top_swaps / n), (ours, top_swaps)
        assert a.empty == pytest.approx(b.empty, abs=empty_swaps / n), (ours, empty_swaps)
        # Energy: a mean of shares in [0, 1] of maps that agree to a few ulps; rel 1e-5 is ~80 ulps.
        assert a.energy == pytest.approx(b.energy, rel=1e-5, abs=empty_swaps / n), ours
        # Deletion runs every map in one batch, so one picture's probability may differ in the last float bits
        # (1e-5); a swap at a cut deletes another cell at one of the steps - 1 inner points of the curve: a probability
        # in [0, 1] with weight 1 / steps in the trapezoid, averaged over n samples.
        tolerance = 1e-5 + cut_swaps / (STEPS * n)
        assert a.deletion_auc == pytest.approx(b.deletion_auc, abs=tolerance), (ours, cut_swaps)


def test_ties_are_broken_at_random_so_a_flat_map_points_like_chance() -> None:
    generator = torch.Generator().manual_seed(0)
    peaked = torch.zeros(GRID * GRID).index_fill(0, torch.tensor([9]), 1.0)
    assert ranking(peaked, generator)[0] == 9
    tops = {int(ranking(torch.zeros(GRID * GRID), generator)[0]) for _ in range(20)}
    assert len(tops) > 10
    prior = centre_prior((GRID, GRID))
    assert int(prior.argmax()) in {27, 28, 35, 36} and prior.min() > 0
