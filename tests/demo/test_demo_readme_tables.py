"""The README's scoreboard tables are rows of the scoreboards the evaluation command wrote, to the last digit."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "vl_saliency_widget" / "demo"
NAMES = {"agcam (paper)": "agcam", "random map": "random", "centre prior": "centre"}
"""The README's names of rows whose scoreboard name is shorter."""


def _rows(lines: list[str]) -> dict[tuple[str, str, str], list[str]]:
    """A markdown table's rows by (method, align, gradients), the other cells bold marks removed."""
    rows = {}
    for line in lines:
        cells = [cell.strip().replace("**", "") for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or cells[0] == "method" or set(cells[0]) <= {"-", ":"}:
            continue
        rows[(NAMES.get(cells[0], cells[0]), cells[1], cells[2])] = cells[3:]
    return rows


def _readme_table(after: str) -> list[str]:
    """The lines of the first table after the line that starts with ``after``."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(after))
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("| method |"))
    end = next(i for i in range(first, len(lines)) if not lines[i].startswith("|"))
    return lines[first:end]


@pytest.mark.parametrize(
    ("heading", "scoreboard"),
    [
        ("## Methods and the faithfulness scoreboard", "scoreboard.md"),
        ("### The binding toy's", "scoreboard_binding.md"),
    ],
)
def test_the_readme_table_is_the_scoreboard_s_rows(heading: str, scoreboard: str) -> None:
    shown = _rows(_readme_table(heading))
    written = _rows((DEMO / scoreboard).read_text().splitlines())
    assert len(shown) >= 10
    for key, values in shown.items():
        assert key in written, key
        assert values == written[key][: len(values)], key
