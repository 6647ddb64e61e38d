"""The toy vision-language models: real ``LlavaForConditionalGeneration`` models with their ``LlavaProcessor``, built
offline.

**The toy model** (:func:`load_toy_vlm`, the task of :func:`~vl_saliency_widget.demo.data.toy_samples`): the vision
tower does not mix its tokens. Its one CLIP layer is never read: the model takes the tower's hidden states before that
layer (``vision_feature_layer=-2``), which are the patch embeddings plus position embeddings, layer-normalised. So image
token ``(r, c)`` carries the pixels of cell ``(r, c)`` and nothing else, and whatever the language model knows about a
picture it learned by attending to the right image tokens.

Sizes: 96 px pictures in 12 px patches (8 x 8 = 64 image tokens) embedded to width 64, a per-token two-layer projector
to width 128, and a 3-layer Llama decoder of width 128 with 4 heads: 581k parameters, 2.3 MB in float32 (the unread
CLIP layer, 25k of them, keeps its initial weights).

**The binding toy** (:func:`load_binding_vlm`, the task of :func:`~vl_saliency_widget.demo.data.binding_samples`):
a model where the methods can disagree. Its vision tower's two CLIP layers attend globally (the model reads the last
one), so an image token may carry what other patches hold; its Llama decoder has 6 layers. 96 px pictures in 16 px
patches (6 x 6 = 36 image tokens) embedded to width 64, a projector to width 128, 6 decoder layers of width 128 with
4 heads: 1.14M parameters, 4.5 MB in float32.
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

from .data import BINDING_CELL, BINDING_IMAGE_SIZE, CELL, COLOURS, IMAGE_SIZE, SHAPES
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

BINDING_WORDS: tuple[str, ...] = (*WORDS, "describe", "shapes", ".")
"""The binding toy's vocabulary: :data:`WORDS` (the same ids), then the words of its training-only description
prompt, "Describe the shapes." (:data:`~vl_saliency_widget.demo.data.DESCRIBE`)."""

WORD_START = "▁"
"""The mark of a word's start in a token's spelling, SentencePiece's (``▁what``): token strips show a space there and
``decode`` writes one."""

CHAT_TEMPLATE = LLAVA_CHAT_TEMPLATE
"""LLaVA 1.5's ``USER: <image>\\nWhat color is the shape? ASSISTANT:`` (the tokenizer adds ``<s>``), as in the zoo."""


def spelling(word: str) -> str:
    """How the tokenizer spells a vocabulary entry: a word with :data:`WORD_START` in front, punctuation as it is."""
    return WORD_START + word if word.isalnum() else word


def build_tokenizer(words: tuple[str, ...] = WORDS) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over :data:`SPECIAL_TOKENS` and ``words`` (default :data:`WORDS`; the binding toy's
    :data:`BINDING_WORDS`), words spelled as SentencePiece does.

    Text is lower-cased and split at white space and punctuation; a word outside the vocabulary becomes ``<unk>``.
    Every word is marked as the start of one (``What color?`` -> ``▁what``, ``▁color``, ``?``) whatever precedes it,
    so the ids are those of a plain word-level split. ``<s>`` is put in front of every encoded text. Decoding writes a
    space before each word but the first and none before punctuation: ``user: what color is the shape?``.
    """
    vocab = {token: index for index, token in enumerate([*SPECIAL_TOKENS.values(), *map(spelling, words)])}
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


def build_processor(
    image_size: int = IMAGE_SIZE, patch_size: int = CELL, words: tuple[str, ...] = WORDS
) -> LlavaProcessor:
    """The processor: pictures resized (not cropped) to ``image_size`` pixels square and CLIP-normalised, one
    ``<image>`` per ``patch_size``-pixel patch (the defaults are the toy model's; the binding toy's are
    :data:`~vl_saliency_widget.demo.data.BINDING_IMAGE_SIZE` and :data:`~vl_saliency_widget.demo.data.BINDING_CELL`).

    The CLS feature the CLIP tower adds is dropped (``vision_feature_select_strategy="default"``), so a picture becomes
    exactly (image_size / patch_size)² image tokens, row-major. The tokenizer is ``build_tokenizer(words)``.
    """
    square = {"height": image_size, "width": image_size}
    image_processor = CLIPImageProcessorPil(size=square, crop_size=square, do_center_crop=False)
    return LlavaProcessor(
        image_processor,
        build_tokenizer(words),
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )


def grid_side(processor: LlavaProcessor) -> int:
    """Patches per row (and per column) of the square pictures ``processor`` makes: 8 for the toy model, 6 for the
    binding toy."""
    return int(processor.image_processor.size["height"]) // int(processor.patch_size)


def build_model(
    processor: LlavaProcessor,
    *,
    text_layers: int = 3,
    vision_layers: int = 1,
    vision_feature_layer: int = -2,
    vision_intermediate_size: int = 64,
    vision_heads: int = 2,
) -> LlavaForConditionalGeneration:
    """A randomly initialised toy model for ``processor`` (seed the global torch generator first to fix the weights).

    The defaults build the toy model; :func:`build_binding_model` the binding toy. The picture and patch sizes are
    ``processor``'s.
    """
    tokenizer = processor.tokenizer
    image_size, patch_size = processor.image_processor.size["height"], processor.patch_size
    config = LlavaConfig(
        text_config=decoder_config(
            tokenizer,
            hidden_size=128,
            intermediate_size=256,
            num_hidden_layers=text_layers,
            num_attention_heads=4,
            num_key_value_heads=4,
            model_type="llama",
            max_position_embeddings=128,
        ),
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": 64,
            "intermediate_size": vision_intermediate_size,
            "num_hidden_layers": vision_layers,
            "num_attention_heads": vision_heads,
            "image_size": image_size,
            "patch_size": patch_size,
        },
        image_token_index=tokenizer.image_token_id,
        image_seq_length=grid_side(processor) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=vision_feature_layer,
    )
    return LlavaForConditionalGeneration(config)


def build_binding_processor() -> LlavaProcessor:
    """The binding toy's processor: :func:`build_processor` for 96 px pictures in 16 px patches, with the words of
    :data:`BINDING_WORDS`."""
    return build_processor(BINDING_IMAGE_SIZE, BINDING_CELL, BINDING_WORDS)


def build_binding_model(processor: LlavaProcessor) -> LlavaForConditionalGeneration:
    """A randomly initialised binding toy for ``processor``: two globally attending CLIP layers of width 64 (4 heads,
    the last one read), a 6-layer Llama decoder of width 128."""
    return build_model(
        processor, text_layers=6, vision_layers=2, vision_feature_layer=-1, vision_intermediate_size=128, vision_heads=4
    )


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


BINDING_WEIGHTS_DIR = Path(__file__).parent / "weights_binding"
"""The shipped binding toy, as ``save_pretrained`` writes it: the 4,000 steps that ``python -m
vl_saliency_widget.demo.train --task binding`` runs (they were run by the experiment that found the recipe, the same
computation: the command's first 100 steps printed the same loss and held-out accuracy, to the digit)."""


def load_binding_vlm(path: str | Path = BINDING_WEIGHTS_DIR) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Load the trained binding toy and its processor from local files, as :func:`load_toy_vlm` loads the toy model.

    Its task is :func:`~vl_saliency_widget.demo.data.binding_samples`: "What color is the circle?" among two or three
    shapes of different colours.
    """
    return load_toy_vlm(path)
