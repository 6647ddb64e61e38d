"""Same model, same inputs: our maps equal those of the vl-saliency reference library (PyPI 1.1.6).

The reference ignores ``token_type_ids`` and uses the answer token's own row and a whole-sequence loss
gradient, so the comparison drops ``token_type_ids`` and uses ``align="token"``, ``gradients="sequence"``.
"""

from __future__ import annotations

import pytest
import torch

from tests.cases import Case
from vl_saliency_widget import SaliencyExtractor

vl_saliency = pytest.importorskip("vl_saliency", reason="the reference library is a test-only dependency")


# Architectures the reference cannot capture at all, with the error it raises.
REFERENCE_FAILS: dict[str, str | tuple[type[Exception], str]] = {
    # It divides vision_config.image_size (a list for InternVL) by patch_size.
    "internvl": (TypeError, "unsupported operand"),
    # It counts images as pixel_values.shape[0], which is Qwen's number of patches.
    "qwen2_vl": "does not match number of images",
    "qwen2_5_vl": "does not match number of images",
    "qwen3_vl": "does not match number of images",
    # It expects one square grid per image; anyres adds tiles and newline features.
    "llava_next": "does not match expected count",
    "llava_onevision": "does not match expected count",
    # Tiles, a global view, break tokens: not one square grid of image_size / patch_size per image.
    "idefics3": "does not match expected count",
    "smolvlm": "does not match expected count",
    "mistral3": "does not match expected count",
    "aya_vision": "does not match expected count",
    # The image enters through cross-attention; one <|image|> token is no grid.
    "mllama": "does not match expected count",
    # Qwen-style patch rows again: the number of patches taken for the number of images.
    "qwen3_5": "does not match number of images",
    "qwen3_5_moe": "does not match number of images",
    "qwen3_vl_moe": "does not match number of images",
    "glm4v": "does not match number of images",
    "glm4v_moe": "does not match number of images",
    "glm46v": "does not match number of images",
    "llava_onevision1_5": "does not match number of images",
    # Gemma 4 has neither image_grid_thw, mm_tokens_per_image nor a vision image_size to infer a grid from.
    "gemma4": "Cannot infer image patch shapes",
    # Resampler latents (8 per view) and anyres tiles: not one square grid per image.
    "idefics2": "does not match expected count",
    "llava_next_video": "does not match expected count",
    # It passes pixel_values alone; the hybrid tower needs its high-resolution copy too.
    "deepseek_vl_hybrid": "Both pixel_values and high_res_pixel_values",
}


def test_maps_equal_the_reference_library(case: Case) -> None:
    if case.name in REFERENCE_FAILS:
        failure = REFERENCE_FAILS[case.name]
        error, message = failure if isinstance(failure, tuple) else (ValueError, failure)
        with pytest.raises(error, match=message):
            vl_saliency.SaliencyExtractor(case.eager_copy(), case.processor).capture(
                **case.inputs, generated_ids=case.generated
            )
        pytest.skip(f"the reference library cannot capture {case.name}")
    inputs = {k: v for k, v in case.inputs.items() if k not in ("token_type_ids", "mm_token_type_ids")}
    reference_model = case.eager_copy()  # the reference needs output_attentions, i.e. eager attention
    reference = vl_saliency.SaliencyExtractor(reference_model, case.processor).capture(
        **inputs, generated_ids=case.generated
    )
    ours = SaliencyExtractor(case.model, case.processor, gradients="sequence").capture(
        **inputs, generated_ids=case.generated
    )
    assert ours.total_generated_tokens == reference.total_generated_tokens
    for t in range(ours.total_generated_tokens):
        for mode in ("attn", "grad"):
            expected = reference.map(token=t, mode=mode).map
            got = ours.map(t, mode, align="token").tensor()
            torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-7, msg=f"token {t} mode {mode}")
