"""Bad input gets a clear error naming the problem and the fix, never a torch traceback."""

from __future__ import annotations

import pytest
import torch

from tests.cases import Case
from vl_saliency_widget import SaliencyExtractor, Trace
from vl_saliency_widget.selectors import AbsoluteIndex, ReSelector


def test_batch_of_two_is_refused(qwen_case: Case) -> None:
    inputs = dict(qwen_case.inputs)
    inputs["input_ids"] = inputs["input_ids"].repeat(2, 1)
    with pytest.raises(ValueError, match=r"one sequence at a time"):
        SaliencyExtractor(qwen_case.model, qwen_case.processor).capture(**inputs)


def test_generated_ids_must_extend_input_ids(qwen_case: Case) -> None:
    wrong = qwen_case.generated.clone()
    wrong[0, 1] += 1
    with pytest.raises(ValueError, match=r"do not start with input_ids"):
        SaliencyExtractor(qwen_case.model, qwen_case.processor).capture(**qwen_case.inputs, generated_ids=wrong)


def test_a_prompt_without_image_is_refused(qwen_case: Case) -> None:
    inputs = {k: v for k, v in qwen_case.inputs.items() if k not in ("pixel_values", "image_grid_thw")}
    with pytest.raises(ValueError, match=r"no image"):
        SaliencyExtractor(qwen_case.model, qwen_case.processor).capture(**inputs)


def test_image_token_count_must_match_the_grid(qwen_case: Case) -> None:
    inputs = dict(qwen_case.inputs)
    inputs["image_grid_thw"] = inputs["image_grid_thw"] * torch.tensor([[1, 2, 1]])
    with pytest.raises(ValueError, match=r"image tokens"):
        SaliencyExtractor(qwen_case.model, qwen_case.processor).capture(**inputs)


def test_unknown_image_token_id(qwen_case: Case) -> None:
    extractor = SaliencyExtractor(qwen_case.model, qwen_case.processor, image_token_id=10**6)
    with pytest.raises(ValueError, match=r"No image token"):
        extractor.capture(**qwen_case.inputs)


def test_nothing_to_store(qwen_case: Case) -> None:
    with pytest.raises(ValueError, match=r"Nothing to capture"):
        SaliencyExtractor(qwen_case.model, qwen_case.processor, store_attns=False, store_grads=False).capture(
            **qwen_case.inputs
        )


def test_bad_gradients_option(qwen_case: Case) -> None:
    with pytest.raises(ValueError, match=r"'token' or 'sequence'"):
        SaliencyExtractor(qwen_case.model, qwen_case.processor, gradients="all")  # type: ignore[arg-type]


def test_capture_inside_inference_mode(qwen_case: Case) -> None:
    with torch.inference_mode(), pytest.raises(RuntimeError, match=r"outside the inference_mode"):
        SaliencyExtractor(qwen_case.model, qwen_case.processor).capture(**qwen_case.inputs)


def test_wrong_number_of_pictures(qwen_case: Case) -> None:
    with pytest.raises(ValueError, match=r"images= has 2"):
        SaliencyExtractor(qwen_case.model, qwen_case.processor).capture(
            **qwen_case.inputs, images=[qwen_case.image, qwen_case.image]
        )


def test_token_index_out_of_range(qwen_trace: Trace) -> None:
    with pytest.raises(IndexError, match=r"3 generated tokens"):
        qwen_trace.map(3)
    with pytest.raises(IndexError, match=r"out of range"):
        qwen_trace.map(-1)


def test_image_index_out_of_range(qwen_trace: Trace) -> None:
    with pytest.raises(IndexError, match=r"1 image"):
        qwen_trace.map(0, image_index=1)


def test_mode_without_its_data(qwen_trace: Trace) -> None:
    with pytest.raises(ValueError, match=r"store_grads=True"):
        qwen_trace.map(0, "grad")
    with pytest.raises(ValueError, match=r"<lambda> needs gradients \(store_grads=True\).*store_grads=True"):
        qwen_trace.map(0, lambda attn, grad: attn)


def test_unknown_mode_and_align(qwen_trace: Trace) -> None:
    with pytest.raises(ValueError, match=r"Unknown mode 'attention'"):
        qwen_trace.map(0, "attention")
    with pytest.raises(ValueError, match=r"'predicting' or 'token'"):
        qwen_trace.map(0, align="next")  # type: ignore[arg-type]


def test_image_position_and_first_token(qwen_trace: Trace) -> None:
    image_position = qwen_trace.image_mask.index(True)
    with pytest.raises(ValueError, match=r"image token"):
        qwen_trace.map(AbsoluteIndex(image_position))
    with pytest.raises(ValueError, match=r"align='token'"):
        qwen_trace.map(AbsoluteIndex(0))


def test_selector_matching_nothing(qwen_trace: Trace) -> None:
    with pytest.raises(ValueError, match=r"zzzz"):
        qwen_trace.map(ReSelector("zzzz"))


def test_generated_image_placeholder_is_refused(qwen_case: Case) -> None:
    image_id = qwen_case.model.config.image_token_id
    generated = torch.cat([qwen_case.generated, torch.tensor([[image_id]])], dim=1)
    with pytest.raises(ValueError, match=r"suppress_tokens"):
        SaliencyExtractor(qwen_case.model, qwen_case.processor).capture(**qwen_case.inputs, generated_ids=generated)
