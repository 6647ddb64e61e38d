"""The zoo's offline tokenizers: whole-word tokens, lossless round trips, special tokens kept whole."""

from __future__ import annotations

import pytest
from transformers import PreTrainedTokenizerBase

from vl_saliency_widget.testing import ARCHITECTURES, tiny_vlm
from vl_saliency_widget.testing.tokenizer import WORDS, bpe_vocabulary

SPACE_MARKER = {
    "GemmaTokenizer": "▁",
    "LlamaTokenizer": "▁",
    "Qwen2Tokenizer": "Ġ",
    "Qwen3_5Tokenizer": "Ġ",
    "TokenizersBackend": "Ġ",
    "CohereTokenizer": "Ġ",
}


@pytest.fixture(params=ARCHITECTURES, scope="module")
def tokenizer(request: pytest.FixtureRequest) -> PreTrainedTokenizerBase:
    return tiny_vlm(request.param)[1].tokenizer


def pieces(tokenizer: PreTrainedTokenizerBase, text: str) -> list[str]:
    return tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_every_word_is_one_token_after_a_space(tokenizer: PreTrainedTokenizerBase) -> None:
    marker = SPACE_MARKER[type(tokenizer).__name__]
    for word in [*WORDS, *(word.capitalize() for word in WORDS)]:
        assert pieces(tokenizer, f"x {word}")[-1] == marker + word


def test_prompt_words_are_whole_tokens(tokenizer: PreTrainedTokenizerBase) -> None:
    marker = SPACE_MARKER[type(tokenizer).__name__]
    assert pieces(tokenizer, "\nWhat color is the circle?")[-6:] == [
        "What",
        f"{marker}color",
        f"{marker}is",
        f"{marker}the",
        f"{marker}circle",
        "?",
    ]


@pytest.mark.parametrize("text", ["What color is the circle?", "Describe the image.", "Zebra über 42 km/h!\n\nok"])
def test_decode_gives_back_the_text(tokenizer: PreTrainedTokenizerBase, text: str) -> None:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text


def test_special_tokens_stay_whole_and_are_skipped(tokenizer: PreTrainedTokenizerBase) -> None:
    for token in tokenizer.all_special_tokens:
        the, *rest = pieces(tokenizer, f"the{token}circle")
        assert the.endswith("the")  # "▁the" where the tokenizer marks the start of the text as a word start
        assert rest == [token, "circle"]
    ids = tokenizer(f"the{tokenizer.eos_token}circle", add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "thecircle"


def test_special_tokens_take_the_first_ids_in_order() -> None:
    vocab, merges = bpe_vocabulary("sentencepiece", ["<pad>", "<image>"])
    assert vocab["<pad>"] == 0
    assert vocab["<image>"] == 1
    assert sorted(vocab.values()) == list(range(len(vocab)))
    assert all(left in vocab and right in vocab and left + right in vocab for left, right in merges)
