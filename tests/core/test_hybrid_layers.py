"""Hybrid language models (Qwen3.5: Gated DeltaNet linear-attention layers between softmax-attention layers):
only the attention layers are captured, counted and numbered."""

from __future__ import annotations

import pytest
import torch

from tests.cases import Case, make_case
from vl_saliency_widget import SaliencyExtractor


@pytest.fixture(scope="module")
def qwen3_5() -> Case:
    return make_case("qwen3_5", new_tokens=3)


def test_the_zoo_model_mixes_linear_and_softmax_attention(qwen3_5: Case) -> None:
    kinds = qwen3_5.model.config.get_text_config(decoder=True).layer_types
    assert kinds == ["linear_attention", "full_attention"]


def test_only_attention_layers_count_and_are_captured(qwen3_5: Case) -> None:
    extractor = SaliencyExtractor(qwen3_5.model, qwen3_5.processor, gradients="sequence")
    assert extractor.num_layers == 1
    trace = extractor.capture(**qwen3_5.inputs, generated_ids=qwen3_5.generated, images=[qwen3_5.image])
    assert trace.attn is not None and trace.attn.shape[0] == 1
    kept = sum(t.numel() * t.element_size() for t in (trace.attn, trace.data.grad))
    assert extractor.estimate_trace_bytes(qwen3_5.generated, **qwen3_5.inputs) == kept
    chosen = SaliencyExtractor(qwen3_5.model, qwen3_5.processor, layers=[0]).capture(
        **qwen3_5.inputs, generated_ids=qwen3_5.generated, images=[qwen3_5.image]
    )
    # exact: the same capture of the same layer, the other layers skipped
    assert torch.equal(chosen.attn, trace.attn)  # type: ignore[arg-type]


def test_a_layer_index_past_the_attention_layers_is_refused(qwen3_5: Case) -> None:
    with pytest.raises(ValueError, match=r"layers=\[1\] must pick among the model's 1 layers"):
        SaliencyExtractor(qwen3_5.model, qwen3_5.processor, layers=[1])
