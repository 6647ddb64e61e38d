"""The toy vision-language model: a real ``LlavaForConditionalGeneration`` with its ``LlavaProcessor``, built offline.

The vision tower does not mix its tokens. Its one CLIP layer is never read: the model takes the tower's hidden states
before that layer (``vision_feature_layer=-2``), which are the patch embeddings plus position embeddings, layer-
normalised. So image token ``(r, c)`` carries the pixels of cell ``(r, c)`` and nothing else, and whatever the language
model knows about a picture it learned by attending to the right image tokens.

Sizes: 96 px pictures in 12 px patches (8 x 8 = 64 image tokens) embedded to width 64, a per-token two-layer projector
to width 128, and a 3-layer Llama decoder of width 128 with 4 heads: 581k parameters, 2.3 MB in float32 (the unread
CLIP layer, 25k of them, keeps its initial weights).
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import (
    CLIPImageProcessorPil,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

from .data import CELL, COLOURS, GRID, IMAGE_SIZE, SHAPES
from .parts import LLAVA_CHAT_TEMPLATE, decoder_config

SPECIAL_TOKENS: dict[str, str] = {
    "pad_token": "<pad>",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "image_token": "<image>",
}
"""The special tokens by attribute name; they take ids 0 to 4 in this order."""

WORDS: tuple[str, ...] = (
    "user",
    "assistant",
    ":",
    "?",
    "what",
    "which",
    "color",
    "colour",
    "is",
    "the",
    "shape",
    *SHAPES,
    *COLOURS,
)
"""The vocabulary after the special tokens, lower case: the chat roles, the question words (with the names of the
shapes, which a user may ask about) and every answer. Their ids follow in this order (the shipped weights depend on
them); the tokenizer spells each word with :data:`WORD_START` in front (:func:`spelling`)."""

WORD_START = "▁"
"""The mark of a word's start in a token's spelling, SentencePiece's (``▁what``): token strips show a space there and
``decode`` writes one."""

CHAT_TEMPLATE = LLAVA_CHAT_TEMPLATE
"""LLaVA 1.5's ``USER: <image>\\nWhat color is the shape? ASSISTANT:`` (the tokenizer adds ``<s>``), as in the zoo."""


def spelling(word: str) -> str:
    """How the tokenizer spells a vocabulary entry: a word with :data:`WORD_START` in front, punctuation as it is."""
    return WORD_START + word if word.isalnum() else word


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer over :data:`SPECIAL_TOKENS` and :data:`WORDS`, words spelled as SentencePiece does.

    Text is lower-cased and split at white space and punctuation; a word outside the vocabulary becomes ``<unk>``.
    Every word is marked as the start of one (``What color?`` -> ``▁what``, ``▁color``, ``?``) whatever precedes it,
    so the ids are those of a plain word-level split. ``<s>`` is put in front of every encoded text. Decoding writes a
    space before each word but the first and none before punctuation: ``user: what color is the shape?``.
    """
    vocab = {token: index for index, token in enumerate([*SPECIAL_TOKENS.values(), *map(spelling, WORDS)])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Lowercase(), normalizers.Replace(Regex(r"(?<!\w)(?=\w)"), WORD_START)]
    )
    # Pieces: a marked word, or a run of other non-space characters that does not run into a marked word.
    word_or_punctuation = Regex(rf"{WORD_START}\w+|(?:(?!{WORD_START}\w)[^\w\s])+")
    tokenizer.pre_tokenizer = pre_tokenizers.Split(word_or_punctuation, behavior="removed", invert=True)
    tokenizer.decoder = decoders.Metaspace(replacement=WORD_START, prepend_scheme="always")
    tokenizer.add_special_tokens(
        [AddedToken(token, normalized=False, special=True) for token in SPECIAL_TOKENS.values()]
    )
    bos = SPECIAL_TOKENS["bos_token"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)


def build_processor() -> LlavaProcessor:
    """The processor: pictures resized (not cropped) to 96 x 96 and CLIP-normalised, one ``<image>`` per patch.

    The CLS feature the CLIP tower adds is dropped (``vision_feature_select_strategy="default"``), so a picture becomes
    exactly :data:`GRID` x :data:`GRID` image tokens, row-major.
    """
    square = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    image_processor = CLIPImageProcessorPil(size=square, crop_size=square, do_center_crop=False)
    return LlavaProcessor(
        image_processor,
        build_tokenizer(),
        patch_size=CELL,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )


def build_model(processor: LlavaProcessor) -> LlavaForConditionalGeneration:
    """A randomly initialised toy model for ``processor`` (seed the global torch generator first to fix the weights)."""
    tokenizer = processor.tokenizer
    config = LlavaConfig(
        text_config=decoder_config(
            tokenizer,
            hidden_size=128,
            intermediate_size=256,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=4,
            model_type="llama",
            max_position_embeddings=128,
        ),
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": 64,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": IMAGE_SIZE,
            "patch_size": CELL,
        },
        image_token_index=tokenizer.image_token_id,
        image_seq_length=GRID * GRID,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    return LlavaForConditionalGeneration(config)


WEIGHTS_DIR = Path(__file__).parent / "weights"
"""The shipped toy model: weights, config, processor, tokenizer and chat template, as ``save_pretrained`` writes them.
``python -m vl_saliency_widget.demo.train`` made them."""


def load_toy_vlm(path: str | Path = WEIGHTS_DIR) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Load the trained toy model and its processor from local files (no network), as any hub model loads.

    Args:
        path: a folder written by ``python -m vl_saliency_widget.demo.train --out``; default: the shipped weights.

    Returns:
        ``(model, processor)``: the model in eval mode, float32 on the CPU with the default attention implementation.

    Raises:
        FileNotFoundError: ``path`` holds no saved toy model.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"No toy model in {path}. Train one with `python -m vl_saliency_widget.demo.train --out {path}`, or "
            "reinstall vl-saliency-widget if the shipped weights are missing."
        )
    model = LlavaForConditionalGeneration.from_pretrained(path, local_files_only=True)
    processor = LlavaProcessor.from_pretrained(path, local_files_only=True)
    return model.eval(), processor
