"""Small word-level BPE tokenizers built offline, in the two styles Hugging Face VLMs use.

``"sentencepiece"`` (Gemma, PaliGemma, Llama/LLaVA): a space is written ``▁`` and glued to the word after it
(``▁circle``), unknown characters fall back to ``<0xNN>`` byte tokens. ``"byte_level"`` (Qwen, Llama 3, Mistral's
Tekken, SmolLM, Command R): every byte is one of 256 printable characters, a space is ``Ġ`` (``Ġcircle``) and a
newline ``Ċ``.

The vocabulary is a fixed list of English words (lower-case and capitalised), the characters they are made of and
every special token a processor or chat template needs. Every listed word, with or without a space in front, is one
token (``▁circle``, ``What``); other words still tokenize, into shorter pieces and single characters.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Mapping, Sequence
from typing import Literal

from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers
from tokenizers.models import BPE
from transformers import PreTrainedTokenizerBase, TokenizersBackend

Style = Literal["sentencepiece", "byte_level"]

_WORD_LIST = """
    a an the this that these those it its there here of in on at to from with without by for and or but not no yes
    is are was were be been has have had do does did can could will would should may might must
    what which who where when why how many much
    color colour colors red green blue yellow orange purple pink brown black white gray grey dark light bright
    circle circles square squares triangle triangles rectangle shape shapes dot line lines star
    left right top bottom middle center centre above below under over next behind front corner side edge
    big small large tiny little round flat
    image images picture photo background foreground object objects scene
    describe show tell find count look see answer question caption detail details briefly
    one two three four five six seven eight nine ten
    you i we they he she me my your please thanks
    user model assistant system helpful
    USER ASSISTANT
"""

WORDS: tuple[str, ...] = tuple(_WORD_LIST.split())
"""The words that tokenize as whole tokens (plus their capitalised forms): enough for prompts like
"What color is the circle?" and "Describe the image." and for the chat templates' role names."""

_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
"""The pre-tokenizer pattern of Llama 3's ``tokenizer.json`` (tiktoken's): a run of newlines stays one piece."""

_SPACE = {"sentencepiece": "▁", "byte_level": "Ġ"}
_NEWLINE = {"sentencepiece": "\n", "byte_level": "Ċ"}


def _alphabet(style: Style) -> list[str]:
    """The single-character tokens: every input can be written with them."""
    if style == "byte_level":
        return sorted(pre_tokenizers.ByteLevel.alphabet())
    byte_fallback = [f"<0x{byte:02X}>" for byte in range(256)]
    return [*byte_fallback, _SPACE[style], _NEWLINE[style], *string.ascii_letters, *string.digits, *string.punctuation]


def _apply_merges(symbols: list[str], ranks: Mapping[tuple[str, str], int]) -> list[str]:
    """Encode one pre-token the way BPE does: merge the adjacent pair of lowest rank until none is left."""
    while True:
        candidates = [(ranks[pair], i) for i, pair in enumerate(itertools.pairwise(symbols)) if pair in ranks]
        if not candidates:
            return symbols
        _, i = min(candidates)
        symbols = [*symbols[:i], symbols[i] + symbols[i + 1], *symbols[i + 2 :]]


def bpe_vocabulary(style: Style, special_tokens: Sequence[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary and merges of a word-level BPE tokenizer.

    Every word of :data:`WORDS` (and its capitalised form), with and without the space marker in front, encodes to
    exactly one token: words are taken one at a time, and while one still encodes to several pieces, the merge of its
    first two pieces is appended (with the highest rank, so words already whole stay whole).

    Args:
        style: ``"sentencepiece"`` (``▁word``) or ``"byte_level"`` (``Ġword``).
        special_tokens: tokens that take ids ``0 .. len(special_tokens) - 1`` in this order (pad, bos, image, ...).

    Returns:
        ``(vocab, merges)``: token string -> id, and the merges in rank order, ready for ``tokenizers.models.BPE``
        or a transformers tokenizer class built on it.
    """
    words = list(dict.fromkeys([*WORDS, *(word.capitalize() for word in WORDS)]))
    units = [_NEWLINE[style] * 2, *(_SPACE[style] + word for word in words), *words]
    ranks: dict[tuple[str, str], int] = {}
    for unit in units:
        while len(pieces := _apply_merges(list(unit), ranks)) > 1:
            ranks[pieces[0], pieces[1]] = len(ranks)
    merges = list(ranks)
    tokens = [*special_tokens, *_alphabet(style), *(left + right for left, right in merges)]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    return vocab, merges


def build_tokenizer(
    tokenizer_class: type[PreTrainedTokenizerBase],
    style: Style,
    named_tokens: Mapping[str, str],
    control_tokens: Sequence[str] = (),
    **kwargs: object,
) -> PreTrainedTokenizerBase:
    """Instantiate a transformers tokenizer class (``GemmaTokenizer``, ``LlamaTokenizer``, ``Qwen2Tokenizer``...) on a
    :func:`bpe_vocabulary`.

    Args:
        tokenizer_class: a ``TokenizersBackend`` subclass whose ``__init__`` takes ``vocab`` and ``merges``, or
            ``TokenizersBackend`` itself: what ``AutoTokenizer`` loads for a hub ``tokenizer.json`` without a model
            class of its own (Llama 3, Mistral, SmolLM). That one gets a byte-level BPE behind Llama 3's pre-tokenizer
            pattern, so ``style`` must be ``"byte_level"``.
        style: the vocabulary style that class's pre-tokenizer and decoder expect.
        named_tokens: special tokens by attribute name, e.g. ``{"bos_token": "<bos>", "image_token": "<image>"}``;
            names outside the standard set become model-specific attributes (``tokenizer.image_token``,
            ``tokenizer.image_token_id``) as with a hub tokenizer. They take the first ids, in this order.
        control_tokens: further special tokens without a name (chat roles, vision delimiters), kept whole by the
            tokenizer, skipped by ``decode(..., skip_special_tokens=True)``; they take the next ids.
        **kwargs: passed to ``tokenizer_class`` (``add_bos_token``, ``padding_side``...).
    """
    special_tokens = list(dict.fromkeys([*named_tokens.values(), *control_tokens]))
    vocab, merges = bpe_vocabulary(style, special_tokens)
    if tokenizer_class is TokenizersBackend:
        if style != "byte_level":
            raise ValueError(f"A bare TokenizersBackend is built byte-level only, not {style!r}.")
        backend = Tokenizer(BPE(vocab=vocab, merges=merges, fuse_unk=False))
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(_LLAMA3_SPLIT), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        backend.decoder = decoders.ByteLevel()
        return tokenizer_class(
            tokenizer_object=backend, extra_special_tokens=list(control_tokens), **named_tokens, **kwargs
        )
    return tokenizer_class(
        vocab=vocab, merges=merges, extra_special_tokens=list(control_tokens), **named_tokens, **kwargs
    )
