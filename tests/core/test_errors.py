"""Bad input gets a clear error naming the problem and the fix, never a torch traceback."""

from __future__ import annotations

import pytest
import torch

from vl_saliency_widget import SaliencyExtractor
from vl_saliency_widget.selectors import AbsoluteIndex, ReSelector

from .conftest import Case, make_case


@pytest.fixture(scope="module")
def qwen() -> Case:
    return make_case("qwen2_vl", new_tokens=3)


def test_batch_of_two_is_refused(qwen: Case) -> None:
    inputs = dict(qwen.inputs)
    inputs["input_ids"] = inputs["input_ids"].repeat(2, 1)
    with pytest.raises(ValueError, match=r"one sequence at a time"):
        SaliencyExtractor(qwen.model, qwen.processor).capture(**inputs)


def test_generated_ids_must_extend_input_ids(qwen: Case) -> None:
    wrong = qwen.generated.clone()
    wrong[0, 1] += 1
    with pytest.raises(ValueError, match=r"do not start with input_ids"):
        SaliencyExtractor(qwen.model, qwen.processor).capture(**qwen.inputs, generated_ids=wrong)


def test_a_prompt_without_image_is_refused(qwen: Case) -> None:
    inputs = {k: v for k, v in qwen.inputs.items() if k not in ("pixel_values", "image_grid_thw")}
    with pytest.raises(ValueError, match=r"no image"):
        SaliencyExtractor(qwen.model, qwen.processor).capture(**inputs)


def test_image_token_count_must_match_the_grid(qwen: Case) -> None:
    inputs = dict(qwen.inputs)
    inputs["image_grid_thw"] = inputs["image_grid_thw"] * torch.tensor([[1, 2, 1]])
    with pytest.raises(ValueError, match=r"image tokens"):
        SaliencyExtractor(qwen.model, qwen.processor).capture(**inputs)


def test_unknown_image_token_id(qwen: Case) -> None:
    extractor = SaliencyExtractor(qwen.model, qwen.processor, image_token_id=10**6)
    with pytest.raises(ValueError, match=r"No image token"):
        extractor.capture(**qwen.inputs)


def test_nothing_to_store(qwen: Case) -> None:
    with pytest.raises(ValueError, match=r"Nothing to capture"):
        SaliencyExtractor(qwen.model, qwen.processor, store_attns=False, store_grads=False).capture(**qwen.inputs)


def test_bad_gradients_option(qwen: Case) -> None:
    with pytest.raises(ValueError, match=r"'token' or 'sequence'"):
        SaliencyExtractor(qwen.model, qwen.processor, gradients="all")  # type: ignore[arg-type]


def test_capture_inside_inference_mode(qwen: Case) -> None:
    with torch.inference_mode(), pytest.raises(RuntimeError, match=r"outside the inference_mode"):
        SaliencyExtractor(qwen.model, qwen.processor).capture(**qwen.inputs)


def test_wrong_number_of_pictures(qwen: Case) -> None:
    with pytest.raises(ValueError, match=r"images= has 2"):
        SaliencyExtractor(qwen.model, qwen.processor).capture(**qwen.inputs, images=[qwen.image, qwen.image])


@pytest.fixture(scope="module")
def attn_only(qwen: Case):  # type: ignore[no-untyped-def]
    return SaliencyExtractor(qwen.model, qwen.processor, store_grads=False).capture(
        **qwen.inputs, generated_ids=qwen.generated
    )


def test_token_index_out_of_range(attn_only) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IndexError, match=r"3 generated tokens"):
        attn_only.map(3)
    with pytest.raises(IndexError, match=r"out of range"):
        attn_only.map(-1)


def test_image_index_out_of_range(attn_only) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IndexError, match=r"1 image"):
        attn_only.map(0, image_index=1)


def test_mode_without_its_data(attn_only) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"store_grads=True"):
        attn_only.map(0, "grad")
    with pytest.raises(ValueError, match=r"<lambda> needs gradients \(store_grads=True\).*store_grads=True"):
        attn_only.map(0, lambda attn, grad: attn)


def test_unknown_mode_and_align(attn_only) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"Unknown mode 'attention'"):
        attn_only.map(0, "attention")
    with pytest.raises(ValueError, match=r"'predicting' or 'token'"):
        attn_only.map(0, align="next")  # type: ignore[arg-type]


def test_image_position_and_first_token(attn_only) -> None:  # type: ignore[no-untyped-def]
    image_position = attn_only.image_mask.index(True)
    with pytest.raises(ValueError, match=r"image token"):
        attn_only.map(AbsoluteIndex(image_position))
    with pytest.raises(ValueError, match=r"align='token'"):
        attn_only.map(AbsoluteIndex(0))


def test_selector_matching_nothing(attn_only) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"zzzz"):
        attn_only.map(ReSelector("zzzz"))


def test_generated_image_placeholder_is_refused(qwen: Case) -> None:
    image_id = qwen.model.config.image_token_id
    generated = torch.cat([qwen.generated, torch.tensor([[image_id]])], dim=1)
    with pytest.raises(ValueError, match=r"suppress_tokens"):
        SaliencyExtractor(qwen.model, qwen.processor).capture(**qwen.inputs, generated_ids=generated)
