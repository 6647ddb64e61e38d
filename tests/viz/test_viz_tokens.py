"""render_token_ids: an HTML token strip with everything from token strings escaped."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
import torch

from vl_saliency_widget.viz import render_token_ids
from vl_saliency_widget.viz.tokens import display_text

VOCAB = {
    0: "<bos>",
    1: "▁Hello",
    2: "Ġworld",
    3: "Ċ",
    4: "<img src=x onerror=alert(1)>",
    5: '"quoted" & <b>',
    6: "<image>",
    7: "<eos>",
    8: "▁\n",
    9: "\\n",
    10: "a\\nb",
}


class Tokenizer:
    all_special_ids = (0, 7)

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [VOCAB[i] for i in ids]


class Processor:
    tokenizer = Tokenizer()


class Spans(HTMLParser):
    """Collects each token span's title and visible text, and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[tuple[str, str]] = []
        self.tags: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        title = dict(attrs).get("title")
        if tag == "span" and title is not None:
            self.tokens.append((title, ""))
            self._depth = 1
        elif tag == "span" and self._depth:
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            title, text = self.tokens[-1]
            self.tokens[-1] = (title, text + data)


def parse(markup: str) -> Spans:
    parser = Spans()
    parser.feed(markup)
    return parser


def test_hostile_token_text_is_escaped_in_text_and_attributes() -> None:
    markup = render_token_ids([4, 5], Processor(), return_html=True)
    assert "<img" not in markup and "<b>" not in markup
    spans = parse(markup)
    assert set(spans.tags) == {"div", "span"}
    assert [text for _, text in spans.tokens] == [VOCAB[4], VOCAB[5]]
    assert spans.tokens[1][0].startswith("Token: '\"quoted\" & <b>' (ID: 5)")


def test_prompt_and_generated_tokens_differ_and_tooltips_number_positions() -> None:
    markup = render_token_ids(torch.tensor([[0, 1, 2, 7]]), Processor(), return_html=True, gen_start=2)
    styles = re.findall(r'<span style="([^"]*)" title=', markup)
    assert styles[0] == styles[1] != styles[2] == styles[3]
    titles = [title for title, _ in parse(markup).tokens]
    assert titles == [f"Token: {VOCAB[i]!r} (ID: {i})\nIndex: {i if i < 7 else 3}" for i in (0, 1, 2, 7)]


def test_only_number_generated_counts_from_gen_start() -> None:
    markup = render_token_ids([0, 1, 2, 7], Processor(), return_html=True, gen_start=2, only_number_generated=True)
    titles = [title for title, _ in parse(markup).tokens]
    assert titles[0] == "Token: '<bos>' (ID: 0)"
    assert titles[2].endswith("Index: 0") and titles[3].endswith("Index: 1")


def test_space_markers_are_faded_and_special_tokens_dimmed() -> None:
    markup = render_token_ids([1, 2, 0], Processor(), return_html=True)
    assert '<span style="opacity: 0.4;">▁</span>Hello' in markup
    assert '<span style="opacity: 0.4;">Ġ</span>world' in markup
    assert '<span style="opacity: 0.55;">&lt;bos&gt;</span>' in markup


def test_line_breaks_follow_newline_tokens_only() -> None:
    markup = render_token_ids([1, 3, 2, 8, 1], Processor(), return_html=True)
    assert markup.count("<br>") == 2
    assert re.search(r"Ċ</span><br>", markup) and re.search(r"↵</span><br>", markup)


def test_display_text_reads_every_tokenizer_stand_in_back() -> None:
    assert display_text("Ġthe") == " the" and display_text("▁cat") == " cat"
    assert display_text("ĊĊ") == "\n\n" and display_text("<0x0A>") == "\n" and display_text("ĉx") == "\tx"
    assert display_text("plain") == "plain" and display_text("a\\nb") == "a\\nb"


def test_a_token_spelled_backslash_n_breaks_the_line_as_in_the_reference() -> None:
    # Some tokenizers spell an escaped line break as the two characters backslash and n; the reference's strip breaks
    # the line after such a token, and so does ours. Text that merely contains them does not.
    markup = render_token_ids([1, 9, 2, 10, 1], Processor(), return_html=True)
    assert markup.count("<br>") == 1
    assert re.search(r"\\n</span><br>", markup)


def test_skip_tokens_hides_ids_but_keeps_positions() -> None:
    markup = render_token_ids([1, 6, 6, 2], Processor(), return_html=True, skip_tokens=6)
    titles = [title for title, _ in parse(markup).tokens]
    assert len(titles) == 2 and titles[1].endswith("Index: 3")
    assert len(parse(render_token_ids([1, 6, 7], Processor(), return_html=True, skip_tokens=[6, 7])).tokens) == 1


def test_without_return_html_it_prints_outside_ipython(capsys: pytest.CaptureFixture[str]) -> None:
    assert render_token_ids([1], Processor()) is None
    printed = capsys.readouterr().out
    assert "Hello" in printed and printed.startswith("<div")


def test_rejects_batches_of_more_than_one_sequence() -> None:
    with pytest.raises(ValueError, match=r"\[2, 2\]"):
        render_token_ids(torch.zeros(2, 2, dtype=torch.long), Processor(), return_html=True)


def test_a_tokenizer_can_be_passed_as_processor() -> None:
    assert html.unescape(render_token_ids([5], Tokenizer(), return_html=True)).count(VOCAB[5]) == 2
