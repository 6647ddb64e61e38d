"""The shipped toy model loads offline like a hub model, reads each patch on its own, and answers held-out questions."""

from __future__ import annotations

import json

import torch
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from vl_saliency_widget.demo import toy_samples
from vl_saliency_widget.demo.data import CELL, GRID, HELD_OUT_SEED
from vl_saliency_widget.demo.model import WEIGHTS_DIR, build_tokenizer
from vl_saliency_widget.demo.parts import chat_inputs

Toy = tuple[LlavaForConditionalGeneration, LlavaProcessor]


def test_the_chat_template_writes_a_llava_prompt_with_one_token_per_patch(toy: Toy) -> None:
    _, processor = toy
    sample = toy_samples(1)[0]
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What color is the shape?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    assert text == "USER: <image>\nWhat color is the shape? ASSISTANT:"
    inputs = chat_inputs(processor, sample.messages)
    tokens = processor.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    assert tokens == [
        "<s>",
        "▁user",
        ":",
        *["<image>"] * (GRID * GRID),
        *["▁what", "▁color", "▁is", "▁the", "▁shape", "?"],
        "▁assistant",
        ":",
    ]
    assert (
        processor.decode(inputs["input_ids"][0], skip_special_tokens=True)
        == "user: what color is the shape? assistant:"
    )
    assert inputs["pixel_values"].shape == (1, 3, GRID * CELL, GRID * CELL)


def test_the_tokenizer_ignores_case_and_maps_unknown_words_to_unk(toy: Toy) -> None:
    tokenizer = toy[1].tokenizer
    assert tokenizer("What COLOR").input_ids == tokenizer("what color").input_ids
    assert tokenizer.convert_ids_to_tokens(tokenizer("what hue").input_ids) == ["<s>", "▁what", "<unk>"]
    assert tokenizer.decode(tokenizer("red </s>").input_ids, skip_special_tokens=True) == "red"


def test_the_tokenizer_marks_word_starts_and_keeps_the_ids_the_weights_were_trained_on(toy: Toy) -> None:
    tokenizer = toy[1].tokenizer
    # The ids of the word-level vocabulary the shipped weights were trained with: <pad> <s> </s> <unk> <image>, then
    # user assistant : ? what which color colour is the shape circle square triangle, then the colours.
    ids = tokenizer("USER: <image>\nWhat colour is the circle? ASSISTANT: orange</s>").input_ids
    assert ids == [1, 5, 7, 4, 9, 12, 13, 14, 16, 8, 6, 7, 24, 2]
    assert tokenizer("assistant:green\twhich?").input_ids == [1, 6, 7, 20, 10, 8], "a word starts after any non-word"
    assert tokenizer.convert_ids_to_tokens([9, 8, 20]) == ["▁what", "?", "▁green"]
    assert tokenizer.decode([9, 11, 13, 14, 15, 8, 6, 7, 20]) == "what color is the shape? assistant: green"
    shipped, built = (json.loads(t.backend_tokenizer.to_str()) for t in (tokenizer, build_tokenizer()))
    del shipped["padding"], built["padding"]  # the shipped one was saved after a left-padded batch
    assert shipped == built, "the shipped tokenizer.json is what build_tokenizer makes"


def test_each_image_token_carries_only_its_own_patch(toy: Toy) -> None:
    model, processor = toy
    sample = toy_samples(1)[0]
    pixel_values = chat_inputs(processor, sample.messages)["pixel_values"]
    changed = pixel_values.clone()
    row, col = 2, 5
    changed[..., row * CELL : (row + 1) * CELL, col * CELL : (col + 1) * CELL] = 2.0
    with torch.no_grad():
        before, after = (torch.cat(list(model.get_image_features(p).pooler_output)) for p in (pixel_values, changed))
    differs = (before - after).abs().amax(-1) > 1e-6
    assert differs.tolist() == [index == row * GRID + col for index in range(GRID * GRID)]


def test_the_shipped_model_answers_held_out_questions_and_stops(toy: Toy) -> None:
    model, processor = toy
    samples = toy_samples(100, HELD_OUT_SEED)
    inputs = chat_inputs(processor, [sample.messages for sample in samples])
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    answers = generated[:, inputs["input_ids"].shape[1] :]
    assert answers.shape[1] == 2 and (answers[:, 1] == processor.tokenizer.eos_token_id).all(), "one word, then </s>"
    said = processor.batch_decode(answers, skip_special_tokens=True)
    accuracy = sum(word == sample.answer for word, sample in zip(said, samples, strict=True)) / len(samples)
    assert accuracy >= 0.95


def test_the_shipped_files_load_as_a_plain_llava_in_eval_mode(toy: Toy) -> None:
    model, processor = toy
    assert type(model) is LlavaForConditionalGeneration and type(processor) is LlavaProcessor
    assert not model.training
    assert model.config._attn_implementation == "sdpa"
    assert model.dtype == torch.float32
    assert sorted(path.name for path in WEIGHTS_DIR.iterdir()) == [
        "chat_template.jinja",
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "processor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
