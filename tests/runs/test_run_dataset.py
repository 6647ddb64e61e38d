"""A run over 200 toy samples: it completes with the broken picture and the raising prompt recorded as failed, its
files and rows are what they say, and a killed run started again finishes without redoing finished samples."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vl_saliency_widget import SaliencyExtractor, Trace
from vl_saliency_widget.runs import Run, capture_dataset, toy_records, write_jsonl

from .conftest import NEW_TOKENS, SAMPLES, Dataset, Finished, Toy, make_dataset
from .helpers import comparable, contents

SUMMARY_COLUMNS = {
    "id", "index", "attempt", "status", "error", "question", "answer", "answer_source", "tokens", "special",
    "positions", "grid", "box", "box_image", "trace", "maps", "seconds", "timing", "image", "expected",
    "top_attn", "pointing_attn", "energy_attn", "top_gradcam", "pointing_gradcam", "energy_gradcam",
}  # fmt: skip


@pytest.fixture
def captures(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """One entry per ``SaliencyExtractor.capture`` call made while the test runs."""
    calls: list[int] = []
    original = SaliencyExtractor.capture

    def counting(self: SaliencyExtractor, *args: Any, **kwargs: Any) -> Trace:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SaliencyExtractor, "capture", counting)
    yield calls


def test_a_run_of_200_samples_records_the_broken_picture_and_the_raising_prompt_as_failed(
    finished: Finished, dataset: Dataset
) -> None:
    run = finished.run
    assert len(run) == SAMPLES
    assert [row["id"] for row in run.rows] == dataset.ids  # dataset order
    failed = {row["id"]: row["error"] for row in run.rows if row["status"] == "failed"}
    assert set(failed) == {dataset.broken, dataset.raising}
    assert failed[dataset.broken].startswith("UnidentifiedImageError")
    assert "<image> tokens" in failed[dataset.raising]
    assert finished.seconds < 60, f"200 toy samples took {finished.seconds:.0f} s"


def test_every_ok_sample_has_its_trace_its_maps_and_a_full_row(finished: Finished) -> None:
    run = finished.run
    for row in run.rows:
        assert set(row) - {"traceback"} <= SUMMARY_COLUMNS, set(row) - SUMMARY_COLUMNS
        if row["status"] == "failed":
            assert "trace" not in row and "maps" not in row and row["traceback"]
            continue
        assert set(row) == SUMMARY_COLUMNS, SUMMARY_COLUMNS - set(row)
        assert row["answer_source"] == "generated" and row["error"] is None
        count = len(row["tokens"])
        assert 1 <= count <= NEW_TOKENS
        for method in ("attn", "gradcam"):
            assert len(row[f"top_{method}"]) == count and all(len(per) == 1 for per in row[f"top_{method}"])
            assert all(score in (0.0, 1.0) for score in row[f"pointing_{method}"])
            assert all(0 <= share <= 1 for share in row[f"energy_{method}"])
    row = next(row for row in run.rows if row["status"] == "ok")
    trace = run.trace(row["id"])
    assert trace.gen_start == row["positions"][0] and trace.token_strings[trace.gen_start :] == row["tokens"]
    maps = run.maps(row["id"])
    assert list(maps) == ["attn", "gradcam"] and maps["attn"][0].shape == (len(row["tokens"]), 8, 8)
    # The top cell of the row is the precomputed map's largest cell (a max picks one stored value: exact).
    top = int(maps["attn"][0][0].reshape(-1).argmax())
    assert list(divmod(top, 8)) == row["top_attn"][0][0]
    # The merged summary holds every sample's row, in dataset order; Run.load reads the shards to the same rows.
    merged = [json.loads(line) for line in (run.path / "summary.jsonl").read_text().splitlines()]
    assert merged == run.rows == Run.load(run.path).rows
    info = json.loads((run.path / "run.json").read_text())
    assert (info["samples"], info["ok"], info["failed"]) == (SAMPLES, SAMPLES - 2, 2)


def test_the_toy_model_answers_and_points_well(finished: Finished) -> None:
    run = finished.run.where(status="ok")
    right = sum(row["answer"] == row["expected"] for row in run.rows) / len(run)
    assert right > 0.95
    board = run.scoreboard()
    assert board["attn"].pointing > 0.6 and board["attn"].pointing_low < board["attn"].pointing


def _rerun(toy: Toy, dataset: Dataset, out: Path, **options: Any) -> Run:
    model, processor = toy
    return capture_dataset(model, processor, dataset.path, out, max_new_tokens=NEW_TOKENS, progress=False, **options)


def _same_as_finished(run: Run, finished: Finished, *, files: int = 20) -> None:
    """Rows equal the uninterrupted run's (timings aside), and the first ``files`` samples' trace and maps files hold
    the same contents. Exact: the same computation (same model, inputs, threads and code path) on the same
    samples; only when a sample runs differs."""
    assert [comparable(r) for r in run.rows] == [comparable(r) for r in finished.run.rows]
    ok = [row for row in run.rows if row["status"] == "ok"][:files]
    for row in ok:
        for name in ("trace", "maps"):
            assert contents(run.path / row[name]) == contents(finished.run.path / row[name]), (row["id"], name)


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_a_run_stopped_midway_resumes_without_redoing_finished_samples(
    toy: Toy, dataset: Dataset, finished: Finished, tmp_path: Path, captures: list[int], stop: type[BaseException]
) -> None:
    written: list[str] = []

    def stop_after_60(row: dict[str, Any]) -> None:
        written.append(row["id"])
        if len(written) == 60:
            raise stop()

    with pytest.raises(stop):
        _rerun(toy, dataset, tmp_path / "run", on_sample=stop_after_60)
    assert len(Run.load(tmp_path / "run")) == 60
    before = len(captures)
    done_ok = {i for i in written if i not in (dataset.broken, dataset.raising)}
    assert before == len(done_ok)
    captured: list[str] = []
    run = _rerun(toy, dataset, tmp_path / "run", on_sample=lambda row: captured.append(row["id"]))
    assert set(captured) == set(dataset.ids) - set(written)  # no finished sample done again, failed ones included
    assert len(captures) - before == SAMPLES - 60 - sum(bad not in written for bad in (dataset.broken, dataset.raising))
    _same_as_finished(run, finished)


def test_a_killed_process_resumes_without_redoing_finished_samples(
    toy: Toy, dataset: Dataset, finished: Finished, tmp_path: Path, captures: list[int]
) -> None:
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "vl_saliency_widget.demo.cli", "run", "--model", "toy", "--data", str(dataset.path),
        "--out", str(out), "--max-new-tokens", str(NEW_TOKENS), "--no-progress",
    ]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    summary = out / "shard-0" / "summary.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if summary.exists() and summary.read_bytes().count(b"\n") >= 30:
            break
        time.sleep(0.01)
    assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.stderr is not None
    child.stderr.close()
    done = {row["id"] for row in Run.load(out).rows}
    assert 30 <= len(done) < SAMPLES
    captured: list[str] = []
    run = _rerun(toy, dataset, out, on_sample=lambda row: captured.append(row["id"]))
    assert set(captured) == set(dataset.ids) - done
    assert not set(captured) & done
    _same_as_finished(run, finished)


def test_a_cut_row_a_missing_row_and_a_leftover_temporary_file_are_not_taken_as_done(
    toy: Toy, tmp_path: Path, captures: list[int]
) -> None:
    data = make_dataset(tmp_path / "data", 12)
    out = tmp_path / "run"
    first = _rerun(toy, data, out)
    shard = out / "shard-0"
    lines = (shard / "summary.jsonl").read_bytes().splitlines(keepends=True)
    # Sample 3's row is gone (killed after its trace was written, before its row); the last row is cut short.
    cut = lines[:3] + lines[4:-1] + [lines[-1][: len(lines[-1]) // 2]]
    (shard / "summary.jsonl").write_bytes(b"".join(cut))
    leftover = shard / "traces" / f".{Path(first.rows[5]['trace']).name}.999.tmp"
    leftover.write_bytes(b"half a trace")
    assert len(Run.load(out)) == 10  # readers skip the cut line
    before = len(captures)
    redone: list[str] = []
    run = _rerun(toy, data, out, on_sample=lambda row: redone.append(row["id"]))
    assert redone == [data.ids[3], data.ids[-1]] and len(captures) - before == 2
    assert not leftover.exists()
    assert [comparable(r) for r in run.rows] == [comparable(r) for r in first.rows]
    assert all(line.endswith(b"\n") for line in (shard / "summary.jsonl").read_bytes().splitlines(keepends=True))


def test_failed_samples_are_kept_unless_retried_and_other_settings_are_refused(
    toy: Toy, tmp_path: Path, captures: list[int]
) -> None:
    data = make_dataset(tmp_path / "data", 6, broken=1, raising=2)
    out = tmp_path / "run"
    _rerun(toy, data, out)
    again: list[str] = []
    _rerun(toy, data, out, on_sample=lambda row: again.append(row["id"]))
    assert again == []
    run = _rerun(toy, data, out, retry_failed=True, on_sample=lambda row: again.append(row["id"]))
    assert again == [data.broken, data.raising]
    assert [row["attempt"] for row in run.rows] == [1, 2, 2, 1, 1, 1]
    with pytest.raises(ValueError, match=r"other settings.*methods"):
        _rerun(toy, data, out, methods=["attn"])


def test_records_in_memory_answers_several_boxes_messages_and_metadata(toy: Toy, tmp_path: Path) -> None:
    model, processor = toy
    base = toy_records(4, seed=3)
    first_box = base[0]["box"]
    records: list[Any] = [
        {"id": 7, "image": base[0]["image"], "question": base[0]["question"], "answer": "red", "boxes": [first_box,
         [0, 0, 12, 12]], "source": {"split": "test", "n": 1}},
        {"image": base[1]["image"], "messages": [{"role": "user", "content": [{"type": "image"},
         {"type": "text", "text": "What color is the shape?"}]}], "box": base[1]["box"]},
        {"id": "no picture", "question": "What color is the shape?"},
        "not a record",
    ]  # fmt: skip
    run = capture_dataset(model, processor, iter(records), tmp_path / "run", max_new_tokens=NEW_TOKENS, progress=False)
    given, chat, missing, odd = run.rows
    assert given["id"] == 7 and chat["id"] == 1 and odd["id"] == 3  # no id: the record's index
    red = processor.tokenizer.convert_ids_to_tokens(processor.tokenizer("red", add_special_tokens=False)["input_ids"])
    assert given["answer_source"] == "given" and given["answer"] == "red" and given["tokens"] == red and len(red) == 1
    assert given["source"] == {"split": "test", "n": 1} and given["image"] is None  # metadata; picture in memory
    assert given["box"] == [[float(v) for v in first_box], [0.0, 0.0, 12.0, 12.0]]
    # Two boxes: the target is their union (the shape's cell and the top-left cell).
    maps = run.maps(7)["attn"][0][0]
    if maps[0, 0] >= maps.max():
        assert given["pointing_attn"][0] == 1.0
    assert (
        chat["status"] == "ok"
        and chat["question"] == "What color is the shape?"
        and chat["answer_source"] == "generated"
    )
    assert missing["status"] == "failed" and odd["status"] == "failed" and "mapping" in odd["error"]
    assert run.summary == [dict(row) for row in run.rows] or hasattr(run.summary, "columns")
    # Ids written to the JSON-lines file stay integers or strings.
    path = write_jsonl(
        [{"id": 5, "image": base[2]["image"], "question": "What color is the shape?"}], tmp_path / "d.jsonl"
    )
    assert json.loads(path.read_text())["id"] == 5
    with pytest.raises(ValueError, match="unique"):
        capture_dataset(model, processor, [{"id": 1}, {"id": 1}], tmp_path / "dup", progress=False)


class FakeDataset:
    """The part of ``datasets.Dataset`` a run reads: ``column_names``, ``len``, a column by name, a row by index."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.column_names = list(rows[0])
        self.decoded: list[int] = []

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return [row[key] for row in self.rows]
        self.decoded.append(key)
        return self.rows[key]


def test_a_dataset_is_read_one_row_at_a_time(toy: Toy, tmp_path: Path) -> None:
    model, processor = toy
    rows = toy_records(5, seed=4)
    data = FakeDataset(rows)
    run = capture_dataset(model, processor, data, tmp_path / "run", max_new_tokens=NEW_TOKENS, progress=False)
    assert run.ids == [row["id"] for row in rows] and data.decoded == list(range(5))
    captured: list[str] = []
    capture_dataset(model, processor, data, tmp_path / "run", max_new_tokens=NEW_TOKENS, progress=False,
                    on_sample=lambda row: captured.append(row["id"]))  # fmt: skip
    assert captured == [] and data.decoded == list(range(5))  # ids from the column: no row decoded to resume


@pytest.mark.parametrize(("name", "layers"), [("toy", 3), ("binding", 6)])
def test_the_run_command_names_the_shipped_toys(name: str, layers: int) -> None:
    from transformers import LlavaForConditionalGeneration

    from vl_saliency_widget.runs.cli import load_model

    model, processor = load_model(name)
    assert type(model) is LlavaForConditionalGeneration and not model.training
    assert model.config.get_text_config().num_hidden_layers == layers
    assert processor.tokenizer("circle").input_ids[-1] == processor.tokenizer.convert_tokens_to_ids("▁circle")
