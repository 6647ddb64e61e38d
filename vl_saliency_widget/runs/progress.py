"""The progress line of a run: samples done and failed, rate and time left; tqdm when installed."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    """Counts the samples of this process as they finish and shows it on ``stream`` (stderr).

    Args:
        total: samples this process will do.
        enabled: show anything at all (the main process only).
        description: the label in front of the counts.
        interval: seconds between two lines of the plain display (without tqdm).
    """

    def __init__(
        self, total: int, *, enabled: bool = True, description: str = "samples", interval: float = 1.0
    ) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.enabled = enabled
        self.description = description
        self.interval = interval
        self.stream: TextIO = sys.stderr
        self.started = time.perf_counter()
        self._shown = 0.0
        self._bar: Any = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, desc=description, unit="sample", file=self.stream, dynamic_ncols=True)

    def update(self, ok: bool) -> None:
        """One more sample finished (``ok=False``: failed)."""
        self.done += 1
        self.failed += not ok
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(1)
            if not ok:
                self._bar.set_postfix(failed=self.failed, refresh=False)
            return
        now = time.perf_counter()
        if now - self._shown >= self.interval or self.done == self.total:
            self._shown = now
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        """``description: done/total (failed), rate, time left``."""
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = time.strftime("%H:%M:%S", time.gmtime(left)) if left == left else "?"
        return (
            f"{self.description}: {self.done}/{self.total} done, {self.failed} failed, {rate:.2f} samples/s, {eta} left"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
