"""What the shipped toy model's answer relies on (``trace.reliance``): the colour word on the picture, the tokens of the
chat template not.

Measured on the first 40 held-out samples (seed 0) with the mean baseline, when these tests were written: the colour
word loses 8.4 nats on average when the picture is replaced by its mean colour (at least 8.7 on the 34 answers that are
not "blue"; none on the 6 "blue" ones, the toy's answer to a picture with no colour); ``</s>`` moves by less than 6e-6
nats on every sample. The prompt's own tokens, teacher forced ("what color is the shape? assistant:"), are never
predicted by the model (log p about -11.5: it was trained on the answer and ``</s>`` alone) and move by 0.02-0.51 nats
on average, at least 6.7 nats less than the colour word on every sample.
"""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from vl_saliency_widget import SaliencyExtractor, Trace
from vl_saliency_widget.demo import toy_samples
from vl_saliency_widget.demo.data import HELD_OUT_SEED, Sample
from vl_saliency_widget.demo.parts import chat_inputs

Toy = tuple[LlavaForConditionalGeneration, LlavaProcessor]

SAMPLES = 40
"""Held-out samples checked (6 of them answered "blue")."""

ANSWER_NATS = 5.0
"""The colour word must lose at least this much log-probability without the picture (measured: at least 8.7)."""

MARGIN_NATS = 5.0
"""The colour word must lose this much more than any prompt token (measured: at least 6.7 more)."""

TEMPLATE_MEAN_NATS = 1.0
"""The chat template's tokens may lose at most this much on average over the samples (measured: at most 0.51)."""

END_NATS = 1e-3
"""``</s>`` after the colour word does not depend on the picture (measured: |delta| below 6e-6 nats)."""


Captured = tuple[list[Sample], list[Trace], int]


@pytest.fixture(scope="module")
def answers(toy: Toy) -> Captured:
    """The toy's own answers (the colour word and ``</s>``, as generated), captured; and the prompt's length."""
    model, processor = toy
    samples = toy_samples(SAMPLES, HELD_OUT_SEED)
    batch = chat_inputs(processor, [sample.messages for sample in samples])
    with torch.no_grad():
        generated = model.generate(**batch, max_new_tokens=4, do_sample=False)
    prompt_len = batch["input_ids"].shape[1]
    extractor = SaliencyExtractor(model, processor, store_grads=False)
    traces = [
        extractor.capture(
            **{name: value[i : i + 1] for name, value in batch.items()},
            generated_ids=generated[i : i + 1, : prompt_len + 2],
            images=[sample.image],
        )
        for i, sample in enumerate(samples)
    ]
    return samples, traces, prompt_len


def test_the_toy_answers_with_the_colour_word_then_the_end_token(answers: Captured, toy: Toy) -> None:
    samples, traces, prompt_len = answers
    tokenizer = toy[1].tokenizer
    for sample, trace in zip(samples, traces, strict=True):
        assert trace.token_ids[prompt_len:] == [tokenizer.convert_tokens_to_ids(f"▁{sample.answer}"), 2]
        assert trace.gen_start == prompt_len
    assert sum(sample.answer == "blue" for sample in samples) == 6


def test_the_colour_word_relies_on_the_image_and_the_end_token_does_not(answers: Captured) -> None:
    samples, traces, prompt_len = answers
    for index, (sample, trace) in enumerate(zip(samples, traces, strict=True)):
        reliance = trace.reliance(baseline="mean")
        word, end = prompt_len, prompt_len + 1
        assert reliance.with_image[word] > math.log(0.9), index  # the answer, confidently
        if sample.answer == "blue":
            # The toy answers "blue" to a picture with no colour: nothing in the picture is needed for it.
            assert not reliance.from_image[word] and reliance.without_image[word] > math.log(0.9), index
        else:
            assert reliance.from_image[word] and reliance.delta[word] > ANSWER_NATS, index
        assert abs(float(reliance.delta[end])) < END_NATS and not reliance.from_image[end], index
        assert torch.isnan(reliance.delta[:prompt_len]).all(), "only the answer's tokens are scored"


def test_the_chat_template_tokens_rely_on_the_image_far_less_than_the_colour_word(toy: Toy) -> None:
    """Teacher forced from right after the picture, so "what color is the shape? assistant:" is scored too."""
    model, processor = toy
    tokenizer = processor.tokenizer
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    samples = toy_samples(SAMPLES, HELD_OUT_SEED)
    batch = chat_inputs(processor, [sample.messages for sample in samples])
    extractor = SaliencyExtractor(model, processor, store_grads=False)
    deltas, with_image, blue = [], [], []
    template = None
    for i, sample in enumerate(samples):
        ids = batch["input_ids"][i]
        cut = int(torch.nonzero(ids == image_token).max()) + 1  # the prompt ends with the picture
        answer = torch.tensor([[tokenizer.convert_tokens_to_ids(f"▁{sample.answer}"), tokenizer.eos_token_id]])
        sequence = torch.cat([ids[None], answer], dim=1)
        trace = extractor.capture(
            input_ids=ids[None, :cut],
            attention_mask=batch["attention_mask"][i : i + 1, :cut],
            pixel_values=batch["pixel_values"][i : i + 1],
            generated_ids=sequence,
            images=[sample.image],
        )
        reliance = trace.reliance(baseline="mean")
        deltas.append(reliance.delta[cut:])
        with_image.append(reliance.with_image[cut:])
        blue.append(sample.answer == "blue")
        template = tokenizer.convert_ids_to_tokens(sequence[0, cut:].tolist())
    assert template is not None and template[-4:-2] == ["▁assistant", ":"], template
    delta = torch.stack(deltas)  # [samples, tokens]: the question, "assistant", ":", the colour word, </s>
    words = torch.tensor(blue).logical_not()
    prompt, colour, end = delta[:, :-2], delta[:, -2], delta[:, -1]
    assert (colour[words] - prompt[words].max(dim=1).values).min() > MARGIN_NATS
    assert (delta[:, -4:-2].mean(dim=0) < TEMPLATE_MEAN_NATS).all(), "assistant and ':'"
    assert (prompt.abs().mean(dim=0) < TEMPLATE_MEAN_NATS).all() and colour[words].mean() > 8
    assert end.abs().max() < END_NATS
    # The prompt's tokens are never predicted (trained on the answer and </s> only), so a small shift of a tiny
    # probability can pass reliance's log 2 threshold: their differences, not from_image, are what is low.
    assert (torch.stack(with_image)[:, :-2] < math.log(1e-3)).all()


def test_blur_can_leave_the_colour_in_the_picture_and_the_mean_colour_does_not(answers: Captured) -> None:
    """Why the scoreboard hides with the mean colour: blurring the whole 96 px picture (radius 12 px, a cell's side)
    still leaves some coloured shapes recognisable, and the model keeps answering with their colour."""
    samples, traces, prompt_len = answers
    kept = {"mean": 0, "blur": 0}
    for sample, trace in zip(samples, traces, strict=True):
        if sample.answer == "blue":
            continue
        for baseline in kept:
            kept[baseline] += int(trace.reliance(baseline=baseline).without_image[prompt_len] > math.log(0.5))
    assert kept["mean"] == 0 and kept["blur"] >= 1, kept
