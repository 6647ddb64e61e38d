"""Many examples: saliency runs over a dataset, in one process or under ``accelerate launch``.

``run = capture_dataset(model, processor, samples, out="runs/x")`` generates (or teacher-forces) each sample's
answer, captures its trace, precomputes and scores its maps and writes them to ``out``, resuming where a killed run
stopped; ``Run.load("runs/x")`` reads it back. ``vl-saliency-widget run --model PATH --data samples.jsonl --out
runs/x`` does the same from the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .capture import capture_dataset, sample_seed
    from .records import DEFAULT_METHODS, read_jsonl, toy_records, write_jsonl
    from .run import MethodScore, Run, interval, scoreboard_markdown

__all__ = [
    "DEFAULT_METHODS",
    "MethodScore",
    "Run",
    "capture_dataset",
    "interval",
    "read_jsonl",
    "sample_seed",
    "scoreboard_markdown",
    "toy_records",
    "write_jsonl",
]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "DEFAULT_METHODS": ".records",
        "MethodScore": ".run",
        "Run": ".run",
        "capture_dataset": ".capture",
        "interval": ".run",
        "read_jsonl": ".records",
        "sample_seed": ".capture",
        "scoreboard_markdown": ".run",
        "toy_records": ".records",
        "write_jsonl": ".records",
    },
)
