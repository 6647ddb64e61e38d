"""``python -m bench --quick`` keeps working: every measurement runs, its numbers are finite and positive, and the
table and plots are written. Speed is not asserted."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.__main__ import main
from bench.isolate import isolated
from bench.micro import MAP, PRECOMPUTE
from bench.workloads import METHODS

pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    main(["--quick", "--out", str(out)])
    return json.loads((out / "results.json").read_text()), out


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_every_capture_method_is_timed_finite_and_positive(quick: tuple[dict[str, Any], Path]) -> None:
    results, _ = quick
    for name, entry in results["shapes"].items():
        timing = entry["time"]
        assert timing["status"] == "ok", (name, timing)
        for method in METHODS:
            assert _positive(timing[method]["seconds"]), (name, method, timing[method])
        assert _positive(timing["ours_token"]["token_grad_s"])


def test_per_token_gradients_are_timed_one_per_pass_and_batched_and_agree(quick: tuple[dict[str, Any], Path]) -> None:
    results, _ = quick
    for name, entry in results["shapes"].items():
        costs = entry["gradients"]
        assert costs["status"] == "ok", (name, costs)
        grads = costs["token_gradients"]
        for key in ("one_s", "batched_per_token_s", "one_by_one_per_token_s"):
            assert _positive(grads[key]), (name, key, grads)
        assert grads["max_abs_difference"] <= 1e-5


def test_float16_trace_sizes_are_measured_beside_the_reference(quick: tuple[dict[str, Any], Path]) -> None:
    results, out = quick
    for entry in results["shapes"].values():
        sizes = entry["gradients"]["trace_bytes"]
        float32 = entry["time"]["ours_sequence"]["kept_bytes"]
        assert sizes["float16_sequence"] * 2 == float32
        # The answer's rows alone keep less; as captured with per-token gradients, attention only (half of that).
        assert 0 < sizes["float16_answer_sequence"] < sizes["float16_sequence"]
        assert sizes["float16_answer_token"] * 2 == sizes["float16_answer_sequence"]
    assert (
        "| trace size, float16, rows='answer', as captured / reference's kept tensors | 0.25 x |"
        in (out / "results.md").read_text()
    )


def test_peak_memory_is_measured_per_method_and_the_traces_keep_bytes(quick: tuple[dict[str, Any], Path]) -> None:
    results, _ = quick
    for name, entry in results["shapes"].items():
        for method in METHODS:
            peak = entry["memory"][method]
            assert peak["status"] == "ok", (name, method, peak)
            assert peak["peak_rss"] >= peak["rss_before"] > 0
            assert (peak["kept_bytes"] > 0) == (method != "floor")


def test_scaling_curve_has_every_point_for_ours_the_floor_and_the_reference(
    quick: tuple[dict[str, Any], Path],
) -> None:
    results, _ = quick
    points = results["scaling"]["points"]
    assert len(points) >= 2
    for tokens, point in points.items():
        for method in ("floor", "ours_sequence", "reference"):
            assert point[method]["status"] == "ok", (tokens, method, point[method])
            assert _positive(point[method]["seconds"])


def test_map_operations_are_timed(quick: tuple[dict[str, Any], Path]) -> None:
    results, _ = quick
    micro = results["micro"]
    assert micro["status"] == "ok", micro
    timings = {
        (group, shape, op): v["seconds"]
        for group in ("map_agg_normalize", "maps")
        for shape, ops in micro[group].items()
        for op, v in ops.items()
    }
    assert len(timings) == 9
    assert all(_positive(t) for t in timings.values())
    for shape in ("[4, 2, 4, 4]", "[4, 2, 4, 4], tiled"):
        assert ("maps", shape, PRECOMPUTE) in timings
        assert ("map_agg_normalize", shape, MAP) in timings


def test_table_and_plots_are_written(quick: tuple[dict[str, Any], Path]) -> None:
    results, out = quick
    table = (out / "results.md").read_text()
    assert results["command"] in table
    assert "| tiny 2x4 | 100 |" in table
    for plot in ("scaling_time.png", "scaling_memory.png", "capture_time.png"):
        assert (out / plot).read_bytes().startswith(b"\x89PNG")


def _sleep(seconds: float) -> dict[str, Any]:
    time.sleep(seconds)
    return {}


def test_a_measurement_past_its_timeout_is_recorded_not_waited_for() -> None:
    start = time.perf_counter()
    result = isolated(_sleep, timeout=1.0, seconds=60.0)
    assert result["status"] == "timeout"
    assert time.perf_counter() - start < 30


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_a_gpu_says_so() -> None:
    with pytest.raises(SystemExit):
        main(["--quick", "--device", "cuda"])


def test_occlusion_reliance_and_text_columns_are_measured(quick: tuple[dict[str, Any], Path]) -> None:
    results, _ = quick
    assert results["perturbation"], "the quick plan times occlusion on the toy model"
    for name, entry in results["perturbation"].items():
        assert entry["status"] == "ok", (name, entry)
        cells, batch = entry["cells"], entry["batch"]
        # counted forward calls: the intact picture, then the hidden cells batch by batch
        assert entry["occlusion_batched"]["passes"] == math.ceil(cells / batch) + 1
        assert entry["occlusion_single"]["passes"] == cells + 1
        assert entry["forward"]["passes"] == 1 and entry["reliance"]["passes"] <= 2
        for call in ("forward", "occlusion_batched", "occlusion_single", "reliance", "capture", "capture_text_columns"):
            assert _positive(entry[call]["seconds"]), (name, call)
        assert entry["capture"]["passes"] == entry["capture_text_columns"]["passes"] == 1
        sizes = entry["trace_bytes"]
        assert 0 < sizes["capture"]["kept"] < sizes["capture_text_columns"]["kept"]
        assert all(size["estimated"] == size["kept"] for size in sizes.values()), "estimate_trace_bytes counts them"
        # The same pictures in batches of 8 or one by one: float32 sums in another order, log-probabilities of a
        # few units; 1e-4 is far above that rounding and far below any cell's drop that means something.
        assert entry["max_abs_difference"] <= 1e-4
        assert entry["answer_maps"] == entry["answer_tokens"]
