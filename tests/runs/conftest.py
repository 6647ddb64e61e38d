"""The toy model and a 200-sample toy dataset (one broken picture, one prompt that raises), and one finished run
of it, built once for the run tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from vl_saliency_widget.demo import load_toy_vlm
from vl_saliency_widget.runs import Run, capture_dataset, toy_records, write_jsonl

Toy = tuple[LlavaForConditionalGeneration, LlavaProcessor]

SAMPLES = 200
BROKEN = 17
"""The sample whose picture file holds no picture."""
RAISING = 42
"""The sample whose question holds the image placeholder: the processor raises (two ``<image>``, one picture)."""
NEW_TOKENS = 4


@dataclass(frozen=True)
class Dataset:
    path: Path
    ids: list[str]
    broken: str
    raising: str


@pytest.fixture(scope="package")
def toy() -> Toy:
    return load_toy_vlm()


@pytest.fixture(scope="package", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread, as the toy model's other tests run: it is too small to gain from more on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_dataset(folder: Path, n: int, broken: int | None = None, raising: int | None = None) -> Dataset:
    """``n`` toy records written as a JSON-lines file with PNG pictures; record ``broken``'s picture file is
    overwritten with bytes that are no picture, record ``raising``'s question holds ``<image>``."""
    records = toy_records(n, seed=0)
    if raising is not None:
        records[raising]["question"] = "What color is <image> the shape?"
    path = write_jsonl(records, folder / "samples.jsonl")
    if broken is not None:
        (folder / "images" / f"{records[broken]['id']}.png").write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    ids = [str(record["id"]) for record in records]
    return Dataset(
        path,
        ids,
        ids[broken] if broken is not None else "",
        ids[raising] if raising is not None else "",
    )


@pytest.fixture(scope="package")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return make_dataset(tmp_path_factory.mktemp("data"), SAMPLES, BROKEN, RAISING)


@dataclass(frozen=True)
class Finished:
    run: Run
    seconds: float


@pytest.fixture(scope="package")
def finished(toy: Toy, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """The whole dataset run in one go, never interrupted: the reference of the resume tests."""
    model, processor = toy
    started = time.perf_counter()
    run = capture_dataset(
        model,
        processor,
        dataset.path,
        tmp_path_factory.mktemp("runs") / "full",
        max_new_tokens=NEW_TOKENS,
        progress=False,
    )
    return Finished(run, time.perf_counter() - started)
