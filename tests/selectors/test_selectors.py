"""Selectors return token indices relative to trace.gen_start."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from vl_saliency_widget.selectors import AbsoluteIndex, IndexFromEnd, ReSelector, Selector


@dataclass
class FakeTrace:
    """The attributes of a Trace that selectors read."""

    token_strings: list[str] | None
    gen_start: int
    processor: Any = None
    image_token_id: int = 99
    token_ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.token_ids and self.token_strings is not None:
            self.token_ids = list(range(len(self.token_strings)))

    @property
    def total_generated_tokens(self) -> int:
        return len(self.token_ids) - self.gen_start


PROMPT = ["<bos>", "▁What", "▁is", "▁this", "?"]
ANSWER = ["▁A", "▁cat", "▁on", "▁a", "▁mat", ".", "▁The", "▁cat", "▁sleeps"]


@pytest.fixture
def trace() -> FakeTrace:
    return FakeTrace(token_strings=PROMPT + ANSWER, gen_start=len(PROMPT))


def test_absolute_index_is_relative_to_gen_start_and_may_reach_the_prompt(trace: FakeTrace) -> None:
    assert AbsoluteIndex(5)(trace) == 0
    assert AbsoluteIndex(13)(trace) == 8
    assert AbsoluteIndex(1)(trace) == -4


def test_absolute_index_rejects_negative_and_past_the_end(trace: FakeTrace) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        AbsoluteIndex(-1)
    with pytest.raises(ValueError, match="14 tokens"):
        AbsoluteIndex(14)(trace)


def test_index_from_end(trace: FakeTrace) -> None:
    assert IndexFromEnd(1)(trace) == 8
    assert IndexFromEnd(9)(trace) == 0
    assert IndexFromEnd(10)(trace) == -1  # the last prompt token
    with pytest.raises(ValueError, match="offset >= 1"):
        IndexFromEnd(0)
    with pytest.raises(ValueError, match="before the start"):
        IndexFromEnd(15)(trace)


def test_re_selector_first_last_and_exact(trace: FakeTrace) -> None:
    assert ReSelector("cat")(trace) == 1
    assert ReSelector("cat", select="last")(trace) == 7
    assert ReSelector(r"▁a", require_exact_match=True)(trace) == 3  # "▁A" and "▁at" do not match exactly
    assert ReSelector(r"▁a", flags=re.IGNORECASE, require_exact_match=True)(trace) == 0
    assert ReSelector(r"▁A|▁mat", require_exact_match=True, select="last")(trace) == 4


def test_re_selector_exact_match_needs_the_whole_token_for_every_alternative(trace: FakeTrace) -> None:
    assert ReSelector("▁cat", require_exact_match=True)(trace) == 1
    assert ReSelector("▁c|▁on", require_exact_match=True)(trace) == 2  # "▁cat" only starts with "▁c"
    with pytest.raises(ValueError, match="matches exactly 'cat'"):
        ReSelector("cat", require_exact_match=True)(trace)


def test_re_selector_searches_only_generated_tokens(trace: FakeTrace) -> None:
    with pytest.raises(ValueError, match=r"'What'.*'▁A', '▁cat'"):
        ReSelector("What")(trace)


def test_re_selector_error_shows_a_limited_token_list() -> None:
    trace = FakeTrace(token_strings=[f"t{i}" for i in range(30)], gen_start=0)
    with pytest.raises(ValueError, match=r"'zzz'.*'t19'\] \.\.\. \(30 in all\)") as error:
        ReSelector("zzz")(trace)
    assert "'t20'" not in str(error.value)


def test_re_selector_falls_back_on_the_processor_tokenizer() -> None:
    class Tokenizer:
        def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
            return [f"tok{i}" for i in ids]

    class Processor:
        tokenizer = Tokenizer()

    trace = FakeTrace(token_strings=None, gen_start=2, processor=Processor(), token_ids=[7, 8, 9, 10])
    assert ReSelector("tok10")(trace) == 1
    with pytest.raises(ValueError, match="neither token_strings nor a processor"):
        ReSelector("x")(FakeTrace(token_strings=None, gen_start=0, token_ids=[1]))


def test_re_selector_validates_select() -> None:
    with pytest.raises(ValueError, match="'middle'"):
        ReSelector("x", select="middle")  # type: ignore[arg-type]


def test_selectors_satisfy_the_protocol() -> None:
    for selector in (AbsoluteIndex(0), IndexFromEnd(1), ReSelector("x")):
        assert isinstance(selector, Selector)
