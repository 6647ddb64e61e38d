"""The faithfulness scoreboard tells a method that finds the queried shape from one that does not.

Regression guard on the first 20 held-out samples; measured when the scoreboard was written (these 20 samples, seed 0):
attention with align="predicting" pointing 0.80 and deletion AUC 0.20; the random map 0.00 and 0.65, energy 0.012.
With occlusion, RISE and insertion (4 steps, RISE with 16 masks): 17 of the 20 answers rely on the image (the other 3
are "blue", the toy's answer to a picture with no colour); occlusion points at the shape on all 17 (0.85 over the 20);
insertion AUC 0.89 for attention and occlusion, 0.64 for the random map.
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
    MODEL_METHODS,
    Key,
    Scoreboard,
    centre_prior,
    configurations,
    evaluate,
    ranking,
    reference_library,
    spearman,
    to_markdown,
)
from vl_saliency_widget.demo.parts import chat_inputs

Toy = tuple[LlavaForConditionalGeneration, LlavaProcessor]
Scored = tuple[Scoreboard, list[dict[Key, torch.Tensor]]]

POINTING_MARGIN = 0.5
"""Attention (align="predicting") must point at the queried shape this much more often than the random map."""

STEPS = 4
"""Deletion and insertion steps of the test's run."""

RISE_MASKS = 16
"""RISE's masks per sample in the test's run: 2 passes of 8 instead of the scoreboard's 256 (32 passes), which made this
module's run take twice as long."""

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
        board = evaluate(model, processor, toy_samples(20, HELD_OUT_SEED), steps=STEPS, rise_masks=RISE_MASKS)
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
    # Every built-in method is scored: those that run the model once (align and gradients do not apply), those
    # whose declared needs hold no gradient once per align, the rest per align and gradients; then the string modes,
    # the reference's four and the baselines.
    rows = {name: sum(key[0] == name for key in configurations()) for name in lib.METHODS}
    expected = {
        name: 1 if needs_of(method).model else 2 if not needs_of(method).gradients else 4
        for name, method in lib.METHODS.items()
    }
    assert rows == expected
    assert rows["rollout"] == 2 and rows["gradcam"] == 4 and rows["occlusion"] == rows["rise"] == 1
    assert set(MODEL_METHODS) == {"occlusion", "rise"}
    assert ("occlusion", "-", "-") in board.scores and ("rise", "-", "-") in board.scores
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


def test_occlusion_is_scored_once_and_points_at_the_shape_whenever_the_answer_relies_on_the_image(
    board: Scoreboard,
) -> None:
    """Every answer but "blue" relies on the image (the toy answers "blue" to a picture with no colour, so hiding the
    blue shape changes nothing); on those, hiding the shape's cell loses the answer and no other cell matters."""
    samples = toy_samples(20, HELD_OUT_SEED)
    assert board.from_image == sum(sample.answer != "blue" for sample in samples) == 17
    assert [key for key in board.scores if key[0] in MODEL_METHODS] == [("occlusion", "-", "-"), ("rise", "-", "-")]
    occlusion = board.scores[("occlusion", "-", "-")]
    assert occlusion.pointing_from_image == 1.0 and occlusion.pointing >= board.from_image / board.samples
    assert occlusion.occlusion_correlation == pytest.approx(1.0)
    assert board.baseline == "mean" and board.rise_masks == RISE_MASKS
    for key, score in board.scores.items():
        assert -1 <= score.occlusion_correlation <= 1, key


def test_inserting_the_best_cells_first_brings_the_answer_back_faster_than_random_cells(board: Scoreboard) -> None:
    random = board.scores[("random", "-", "-")]
    for key in [("occlusion", "-", "-"), ("attn", "predicting", "-")]:
        assert board.scores[key].insertion_auc > random.insertion_auc + 0.15, key
    for key, score in board.scores.items():  # a mean of probabilities
        assert 0 <= score.insertion_auc <= 1, key


def test_insertion_is_deletion_of_the_other_cells_from_the_same_blank_picture(toy: Toy) -> None:
    """Insertion at step k keeps the first k/steps of an order on deletion's background: the picture deletion makes at
    step steps - k with the order reversed. Both curves run the same pictures, so they agree to float rounding (the
    batches differ)."""
    model, processor = toy
    sample = toy_samples(1, HELD_OUT_SEED)[0]
    inputs = dict(chat_inputs(processor, [sample.messages]))
    answer = int(processor.tokenizer.convert_tokens_to_ids(f"▁{sample.answer}"))
    orders = torch.stack([torch.randperm(GRID * GRID, generator=torch.Generator().manual_seed(k)) for k in range(3)])
    deletion = evaluate_module._deletion_curves(model, inputs, sample, orders.flip(1), (GRID, GRID), answer, STEPS)
    ends = (deletion[0, -1], deletion[0, 0])
    insertion = evaluate_module._insertion_curves(model, inputs, sample, orders, (GRID, GRID), answer, STEPS, ends)
    torch.testing.assert_close(insertion, deletion.flip(1), rtol=0, atol=1e-5)
    assert insertion[0, 0] < 0.5 < insertion[0, -1], "the blank picture loses the answer, the whole one has it"


def test_spearman_ranks_with_average_ties_and_scores_a_constant_map_0() -> None:
    reference = torch.tensor([1.0, 2.0, 3.0, 4.0])
    maps = torch.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [5.0, 5.0, 5.0, 5.0], [1.0, 1.0, 2.0, 3.0]])
    # ties: ranks (1.5, 1.5, 3, 4) against (1, 2, 3, 4): 4.5 / sqrt(4.5 * 5)
    torch.testing.assert_close(spearman(maps, reference), torch.tensor([1.0, -1.0, 0.0, 4.5 / (4.5 * 5) ** 0.5]))
    values = torch.randn(5, 64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(spearman(values.exp() * 3, values[2]), spearman(values, values[2]))  # monotone
    assert spearman(values, values[2])[2] == pytest.approx(1.0)


def test_adding_the_methods_that_run_the_model_left_every_other_row_as_it_was(toy: Toy) -> None:
    """The rows scored before occlusion and RISE existed keep their numbers: the new rows draw their tie-breaking
    order from a stream of their own, and the other rows' maps, orders and pictures are the same. Checked on 4
    samples, whose all-zero maps (token-row gradients) are ranked by that order alone."""
    model, processor = toy
    samples = toy_samples(4, HELD_OUT_SEED)
    board = evaluate(model, processor, samples, steps=STEPS, reference=False, rise_masks=8)
    with pytest.MonkeyPatch.context() as patch:
        without = {name: m for name, m in evaluate_module.METHODS.items() if name not in MODEL_METHODS}
        patch.setattr(evaluate_module, "METHODS", without)
        patch.setattr(evaluate_module, "MODEL_METHODS", ())
        before = evaluate(model, processor, samples, steps=STEPS, reference=False)
    assert set(before.scores) == {key for key in board.scores if key[0] not in MODEL_METHODS}
    assert board.scores[("grad", "token", "token")].empty == 1.0, "all-zero maps: their order is the random one"
    for key, old in before.scores.items():
        new = board.scores[key]
        assert (new.pointing, new.energy, new.empty, new.pointing_from_image) == (
            old.pointing,
            old.energy,
            old.empty,
            old.pointing_from_image,
        ), key
        assert new.deletion_auc == pytest.approx(old.deletion_auc, abs=1e-5), key  # batches of other sizes
        assert new.insertion_auc == pytest.approx(old.insertion_auc, abs=1e-5), key
