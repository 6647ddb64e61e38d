"""Dataset-level reductions of a run equal the same reductions computed by hand from its trace files, and ``where``
filters rows."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from vl_saliency_widget import Trace, lib
from vl_saliency_widget.core.regions import box_cells
from vl_saliency_widget.lib.scores import energy, pointing, rankings
from vl_saliency_widget.runs import interval, sample_seed, scoreboard_markdown

from .conftest import Dataset, Finished


def test_head_ranking_equals_lib_rank_localization_heads_over_the_trace_files(finished: Finished) -> None:
    run = finished.run
    ok = [row for row in run.rows if row["status"] == "ok"]
    by_hand = lib.rank_localization_heads(Trace.load(run.path / row["trace"]).map(0, "attn") for row in ok)
    ranking = run.rank_localization_heads()
    # Exact: the same selector on the same maps (each a gather of the stored attention, read back bit for bit).
    assert (ranking.counts, ranking.samples, ranking.shape) == (by_hand.counts, by_hand.samples, by_hand.shape)
    assert ranking.samples == len(ok) and ranking.top(3)


def _scores_by_hand(trace: Trace, sample_id: str, box: list[float]) -> dict[str, tuple[float, float]]:
    """Pointing and energy of the first answer token per method, from the trace alone: the maps as README shows
    them (one gather reduced over layers and heads for attention, ``map(...).agg()`` for Grad-CAM), cells ranked
    in the sample's seeded order (every answer token's map, method by method, as the run ranks them)."""
    positions = list(range(trace.gen_start, len(trace.token_ids)))
    stacks = {
        "attn": trace.maps(positions, "attn", layer_reduce="mean", head_reduce="mean")[:, 0, 0],
        "gradcam": torch.stack([trace.map_at(p, lib.gradcam).agg().map[0, 0] for p in positions]),
    }
    generator = torch.Generator().manual_seed(sample_seed(0, sample_id))
    out = {}
    for method, stack in stacks.items():
        flat = stack.float().reshape(len(positions), -1)
        target = box_cells(box, trace.image_layouts[0].size, (stack.shape[-2], stack.shape[-1])).reshape(-1)
        orders = rankings(flat, generator)
        out[method] = (float(pointing(orders, target)[0]), float(energy(flat, target)[0]))
    return out


def test_scoreboard_equals_the_scores_computed_by_hand_from_the_trace_files(finished: Finished) -> None:
    run = finished.run
    by_hand: dict[str, dict[str, list[float]]] = {m: {"pointing": [], "energy": []} for m in ("attn", "gradcam")}
    for row in run.rows:
        if row["status"] != "ok":
            continue
        scores = _scores_by_hand(Trace.load(run.path / row["trace"]), row["id"], row["box"][0])
        for method, (hit, share) in scores.items():
            # Exact: the same functions on the same float16 data (the trace file holds the capture's tensors and
            # the per-token gradients the run computed) with the same seeded tie-breaking order.
            assert (hit, share) == (row[f"pointing_{method}"][0], row[f"energy_{method}"][0]), (row["id"], method)
            by_hand[method]["pointing"].append(hit)
            by_hand[method]["energy"].append(share)
    board = run.scoreboard(kind="normal")
    z = statistics.NormalDist().inv_cdf(0.975)
    for method, values in by_hand.items():
        score = board[method]
        assert score.n == len(values["pointing"]) == 198
        for name in ("pointing", "energy"):
            mean = statistics.fmean(values[name])
            half = z * statistics.stdev(values[name]) / math.sqrt(len(values[name]))
            # Summed in another order (torch float64 vs statistics): equal up to float64 rounding.
            got = (getattr(score, name), getattr(score, f"{name}_low"), getattr(score, f"{name}_high"))
            assert got == pytest.approx((mean, mean - half, mean + half), rel=1e-12, abs=1e-15)
    bootstrap = run.scoreboard()
    assert bootstrap == run.scoreboard()  # seeded
    for method, score in bootstrap.items():
        assert score.pointing == pytest.approx(board[method].pointing, rel=1e-15)
        assert score.pointing_low < score.pointing < score.pointing_high
        normal_width = board[method].pointing_high - board[method].pointing_low
        assert score.pointing_high - score.pointing_low == pytest.approx(normal_width, rel=0.25)
    assert "| attn | 198 |" in scoreboard_markdown(bootstrap)


def test_mean_over_answer_tokens_skips_special_tokens(finished: Finished) -> None:
    run = finished.run.where(status="ok")
    board = run.scoreboard("mean", kind="normal")
    rows = run.rows
    # The toy answers one word then </s>: the mean over non-special tokens is the first token's score.
    assert all(row["special"][1:] == [True] * (len(row["special"]) - 1) for row in rows)
    assert board["attn"].pointing == pytest.approx(run.scoreboard(0, kind="normal")["attn"].pointing, rel=1e-15)


def test_intervals_by_hand() -> None:
    values = [0.0, 1.0, 1.0, 1.0]
    mean, low, high = interval(values, kind="normal")
    half = statistics.NormalDist().inv_cdf(0.975) * statistics.stdev(values) / 2
    assert (mean, low, high) == pytest.approx((0.75, 0.75 - half, 0.75 + half))
    assert all(math.isnan(v) for v in interval([], kind="normal"))
    _, low, high = interval(values, resamples=4000)
    assert 0 <= low <= 0.75 <= high <= 1


def test_where_filters_by_column_value_callable_and_predicate(finished: Finished, dataset: Dataset) -> None:
    run = finished.run
    failed = run.where(status="failed")
    assert failed.ids == [dataset.ids[17], dataset.ids[42]] and len(failed) == 2
    red = run.where(status="ok", expected="red")
    assert len(red) > 0 and all(row["expected"] == "red" for row in red)
    both = run.where(expected=lambda v: v in {"red", "blue"})
    assert len(both) == sum(row["expected"] in {"red", "blue"} for row in run.rows)
    wrong = run.where(lambda row: row["status"] == "ok" and row["answer"] != row["expected"])
    assert len(wrong) < 10
    assert len(red.rank_localization_heads().counts) > 0 and red.rank_localization_heads().samples == len(red)
    with pytest.raises(KeyError, match="No column"):
        run.where(colour="red")
    with pytest.raises(ValueError, match="failed"):
        run.trace(dataset.ids[17])
    with pytest.raises(KeyError):
        run.trace("no such id")
