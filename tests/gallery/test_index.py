"""The gallery's index of a run's summary: which columns sort, and the order it shows (filters, then sort).

The shared cases (``order_cases.json``) are also run by ``js/galleryorder.test.ts`` on the table an exported page
holds, so a page sorts its samples as the kernel would.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vl_saliency_widget.gallery.index import (
    RangeFilter,
    SummaryIndex,
    TextFilter,
    parse_filters,
    reduce_tokens,
)

CASES = json.loads((Path(__file__).parent / "order_cases.json").read_text())


@pytest.mark.parametrize("case", CASES["queries"], ids=lambda case: json.dumps(case["query"]))
def test_the_order_shown_follows_the_shared_rules(case: dict[str, Any]) -> None:
    index = SummaryIndex(CASES["rows"])
    query = case["query"]
    order = index.order(query["sort_by"], query["descending"], parse_filters(query["filters"], index), query["token"])
    assert order.dtype == np.int32
    assert order.tolist() == case["order"]


def test_the_shared_cases_table_is_what_the_index_exports() -> None:
    # js/galleryorder.test.ts orders this table: it must be the one export.static_page writes for these rows.
    index = SummaryIndex(CASES["rows"])
    described = [column.state() for column in index.columns.values()]
    assert described == CASES["columns"]
    for column in index.columns.values():
        expected = CASES["table"][column.name]
        if column.kind == "text":
            assert index.texts(column.name) == expected
        elif column.per_token:
            for token, values in expected.items():
                got = index.numbers(column.name, token).tolist()
                assert [None if math.isnan(v) else v for v in got] == values
        else:
            assert [None if math.isnan(v) else v for v in index.numbers(column.name).tolist()] == expected


def test_columns_cover_numbers_text_per_token_lists_and_nested_dicts_but_not_nested_lists() -> None:
    rows = [
        {
            "id": 1,
            "score": 0.5,
            "flag": True,
            "tokens": [" red", "</s>"],
            "pointing_attn": [1.0, None],
            "top_attn": [[[0, 1]], [[2, 3]]],
            "grid": [[4, 6]],
            "positions": [10, 11],
            "special": [False, True],
            "timing": {"capture": 0.25, "nested": {"x": 1}},
            "mixed": 3,
        },
        {"id": "two", "score": None, "flag": False, "tokens": None, "timing": {"capture": 0.5}, "mixed": "three"},
    ]
    index = SummaryIndex(rows)
    kinds = {name: (column.kind, column.per_token) for name, column in index.columns.items()}
    assert kinds == {
        "id": ("text", False),  # an int and a str: text
        "score": ("number", False),
        "flag": ("number", False),
        "tokens": ("text", False),
        "pointing_attn": ("number", True),
        "timing.capture": ("number", False),
        "mixed": ("text", False),
    }
    assert index.texts("tokens") == [" red </s>", None]
    assert index.texts("id") == ["1", "two"]
    assert index.numbers("flag").tolist() == [1.0, 0.0]
    assert index.numbers("timing.capture").tolist() == [0.25, 0.5]
    assert math.isnan(index.numbers("score")[1])


def test_per_token_values_read_the_first_token_or_the_answer_s_words() -> None:
    assert reduce_tokens([0.2, 0.8, 0.4], [False, False, True], "first") == 0.2
    assert reduce_tokens([0.2, 0.8, 0.4], [False, False, True], "mean") == pytest.approx(0.5)
    assert reduce_tokens([0.2, 0.8, 0.4], [False, False, True], "max") == 0.8
    # every token special: all of them count; a missing value is skipped; no value at all is NaN
    assert reduce_tokens([0.2, 0.4], [True, True], "mean") == pytest.approx(0.3)
    assert reduce_tokens([None, 0.4], [False, False], "mean") == pytest.approx(0.4)
    assert math.isnan(reduce_tokens(None, None, "max"))
    assert math.isnan(reduce_tokens([None], [False], "first"))


def test_filters_are_checked_against_the_columns_with_messages_that_say_what_to_do() -> None:
    index = SummaryIndex(CASES["rows"])
    assert parse_filters(
        [{"column": "question", "text": "red"}, {"column": "reliance", "min": 0, "max": None}], index
    ) == [
        TextFilter("question", "red"),
        RangeFilter("reliance", 0.0, None),
    ]
    with pytest.raises(ValueError, match=r"No sortable column 'nope'.*the columns: id, question"):
        parse_filters([{"column": "nope", "text": "x"}], index)
    with pytest.raises(ValueError, match="filter it with 'min' and 'max'"):
        parse_filters([{"column": "reliance", "text": "x"}], index)
    with pytest.raises(ValueError, match="filter it with 'text'"):
        parse_filters([{"column": "question", "min": 1}], index)
    with pytest.raises(ValueError, match="filters must be a list"):
        parse_filters({"column": "question"}, index)
    with pytest.raises(KeyError, match="No sortable column"):
        index.order("nope")


def test_ten_thousand_rows_are_filtered_then_sorted_by_a_per_token_column() -> None:
    rng = np.random.default_rng(0)
    rows = [
        {"id": f"s{i}", "question": f"q {rng.integers(100)}", "pointing_attn": rng.random(3).tolist()}
        for i in range(10_000)
    ]
    index = SummaryIndex(rows)
    order = index.order("pointing_attn", True, [TextFilter("question", "q 1")], "mean")
    values = index.numbers("pointing_attn", "mean")[order]
    assert np.all(np.diff(values) <= 0)
    assert all("q 1" in rows[i]["question"] for i in order)
    assert len(order) == sum("q 1" in row["question"] for row in rows)
