"""The binding toy: a second shipped model where the answer needs one of several coloured shapes ("What color is the
circle?"), its vision tower attends globally and its decoder has 6 layers; loaded offline, it answers held-out
questions, and its training recipe (probe loss, description prompts) does what it says."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from vl_saliency_widget import SaliencyExtractor
from vl_saliency_widget.demo.data import (
    BINDING_CELL,
    BINDING_GRID,
    COLOURS,
    DESCRIBE,
    HELD_OUT_SEED,
    SHAPES,
    binding_samples,
    description,
)
from vl_saliency_widget.demo.evaluate import compare_baselines
from vl_saliency_widget.demo.model import (
    BINDING_WEIGHTS_DIR,
    BINDING_WORDS,
    SPECIAL_TOKENS,
    WEIGHTS_DIR,
    build_tokenizer,
    load_binding_vlm,
    spelling,
)
from vl_saliency_widget.demo.parts import chat_inputs
from vl_saliency_widget.demo.train import TASKS, patch_labels, train, training_batch

Toy = tuple[LlavaForConditionalGeneration, LlavaProcessor]

ACCURACY_THRESHOLD = 0.9
"""The issue's bar for shipping the binding toy: 90% held-out accuracy (here on the first 100 held-out samples)."""


def test_the_shipped_files_load_as_a_plain_llava_with_a_mixing_tower_and_six_decoder_layers(binding: Toy) -> None:
    model, processor = binding
    assert type(model) is LlavaForConditionalGeneration and type(processor) is LlavaProcessor
    assert not model.training and model.dtype == torch.float32
    config = model.config.to_dict()
    assert config["text_config"]["num_hidden_layers"] >= 6
    assert config["vision_config"]["num_hidden_layers"] == 2 and config["vision_feature_layer"] == -1
    names = [sorted(path.name for path in folder.iterdir()) for folder in (BINDING_WEIGHTS_DIR, WEIGHTS_DIR)]
    assert names[0] == names[1], "the files save_pretrained writes, as the toy model's (test_demo_model.py)"


def test_its_tokenizer_is_the_toy_s_with_the_description_words_after_it(binding: Toy) -> None:
    tokenizer = binding[1].tokenizer
    shipped, built = (json.loads(t.backend_tokenizer.to_str()) for t in (tokenizer, build_tokenizer(BINDING_WORDS)))
    del shipped["padding"], built["padding"]
    assert shipped == built
    toy = build_tokenizer()
    text = "What colour is the circle? orange"
    assert tokenizer(text).input_ids == toy(text).input_ids, "the words both models know keep their ids"
    described = tokenizer.convert_ids_to_tokens(tokenizer(DESCRIBE).input_ids)
    assert described == ["<s>", "▁describe", "▁the", "▁shapes", "."]


def test_every_image_token_sees_the_whole_picture(binding: Toy) -> None:
    model, processor = binding
    pixel_values = chat_inputs(processor, binding_samples(1)[0].messages)["pixel_values"]
    changed = pixel_values.clone()
    row, col = 2, 3
    changed[..., row * BINDING_CELL : (row + 1) * BINDING_CELL, col * BINDING_CELL : (col + 1) * BINDING_CELL] = 2.0
    with torch.no_grad():
        before, after = (torch.cat(list(model.get_image_features(p).pooler_output)) for p in (pixel_values, changed))
    assert before.shape[0] == BINDING_GRID * BINDING_GRID
    differs = (before - after).abs().amax(-1) > 1e-6
    assert differs.all(), "the tower's layers attend globally: one patch changes every image token"


def test_the_shipped_model_answers_held_out_questions_about_one_of_several_shapes(binding: Toy) -> None:
    model, processor = binding
    samples = binding_samples(100, HELD_OUT_SEED)
    inputs = chat_inputs(processor, [sample.messages for sample in samples])
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    answers = generated[:, inputs["input_ids"].shape[1] :]
    assert (answers[:, 1] == processor.tokenizer.eos_token_id).all(), "one word, then </s>"
    said = processor.batch_decode(answers[:, :1])
    accuracy = sum(word == sample.answer for word, sample in zip(said, samples, strict=True)) / len(samples)
    assert accuracy >= ACCURACY_THRESHOLD


def test_asked_about_each_shape_of_the_same_picture_it_names_that_shape_s_colour(binding: Toy) -> None:
    model, processor = binding
    asked = [
        (replace(sample, question=f"What color is the {shape.kind}?", answer=shape.colour))
        for sample in binding_samples(40, HELD_OUT_SEED)
        for shape in sample.shapes
    ]
    inputs = chat_inputs(processor, [sample.messages for sample in asked])
    with torch.no_grad():
        first = model(**inputs).logits[:, -1].argmax(-1)
    said = processor.tokenizer.convert_ids_to_tokens(first.tolist())
    correct = [word == spelling(sample.answer) for word, sample in zip(said, asked, strict=True)]
    assert sum(correct) / len(asked) >= ACCURACY_THRESHOLD, "the answer follows the shape the question names"


def test_patch_labels_name_each_shape_s_kind_and_colour_in_its_cell() -> None:
    samples = binding_samples(3, 7)
    kinds, colours = patch_labels(samples, BINDING_GRID)
    for row, sample in enumerate(samples):
        expected_kinds = torch.zeros(BINDING_GRID * BINDING_GRID, dtype=torch.long)
        expected_colours = torch.zeros_like(expected_kinds)
        for shape in sample.shapes:
            cell = shape.cell[0] * BINDING_GRID + shape.cell[1]
            expected_kinds[cell] = SHAPES.index(shape.kind) + 1
            expected_colours[cell] = list(COLOURS).index(shape.colour) + 1
        assert torch.equal(kinds[row], expected_kinds) and torch.equal(colours[row], expected_colours)


def test_described_samples_are_labelled_on_their_colour_words_and_end_token_only() -> None:
    processor = TASKS["binding"].processor()
    samples = binding_samples(4, 1_000)
    batch = training_batch(samples, processor, describe=2)
    tokenizer = processor.tokenizer
    for row, sample in enumerate(samples):
        labelled = tokenizer.convert_ids_to_tokens(batch["labels"][row][batch["labels"][row] >= 0])
        if row < 2:
            assert labelled == [*(spelling(s.colour) for s in sample.shapes), "</s>"]
            words = description(sample).split()
            assert words[0::2] == [s.kind for s in sample.shapes] and words[1::2] == [s.colour for s in sample.shapes]
        else:
            assert labelled == [spelling(sample.answer), "</s>"]


def test_a_short_binding_run_trains_with_the_probe_and_saves_a_loadable_model(tmp_path: Path) -> None:
    accuracy = train(2, tmp_path, task="binding", batch_size=4, eval_samples=4, warmup=1, eval_every=1)
    assert 0.0 <= accuracy <= 1.0
    model, processor = load_binding_vlm(tmp_path)
    assert model.config.get_text_config().num_hidden_layers == 6
    describe = len(SPECIAL_TOKENS) + BINDING_WORDS.index("describe")  # the special tokens come first
    assert processor.tokenizer.convert_tokens_to_ids("▁describe") == describe


def test_occlusion_points_at_the_named_shape_whenever_the_answer_relies_on_the_picture(binding: Toy) -> None:
    # 300 held-out samples (README): with the mean colour it points at the named shape on every one of the 253
    # answers that rely on the picture, and hiding that cell always loses the answer.
    model, processor = binding
    (check,) = compare_baselines(model, processor, binding_samples(30, HELD_OUT_SEED), baselines=("mean",))
    assert check.from_image >= 20
    assert check.pointing_from_image == 1.0
    assert check.kept_cell == 0.0


def test_the_colour_word_relies_on_the_picture_and_the_end_token_does_not(binding: Toy) -> None:
    # Measured on these 30: the colour word loses a median 9.0 nats without the picture (mean-colour baseline) and
    # 25 of 30 more than log 2 (the other 5 are the answer the model gives a picture with no shape); </s> moves by
    # less than 3e-6. 1e-3 for </s> is far above float rounding of two log-probabilities near 0, far below log 2.
    model, processor = binding
    extractor = SaliencyExtractor(model, processor, store_grads=False)
    colour, end = [], []
    for sample in binding_samples(30, HELD_OUT_SEED):
        inputs = chat_inputs(processor, sample.messages)
        with torch.no_grad():
            generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
        trace = extractor.capture(**inputs, generated_ids=generated, images=[sample.image])
        reliance = trace.reliance(baseline="mean")
        colour.append(bool(reliance.from_image[trace.gen_start]))
        end.append(float(reliance.delta[trace.gen_start + 1].abs()))
    assert sum(colour) >= 0.75 * len(colour)
    assert max(end) < 1e-3
