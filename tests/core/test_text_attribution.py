"""Attribution to the text (``text_columns=True``): a token's attention and gradient on every earlier text token,
against eager ``output_attentions`` and ``retain_grad`` autograd."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.cases import Case, make_case
from tests.core.test_capture import eager_attentions
from vl_saliency_widget import SaliencyExtractor, Trace

# capture (fused SDPA outputs, eager on the kept rows) vs a whole eager pass: float32 rounding of sums over the
# sequence, as in test_capture's attention and gradient oracles.
CLOSE = {"rtol": 1e-4, "atol": 1e-6}


@pytest.fixture(scope="module", params=["gemma3", "qwen2_vl", "idefics3"])
def case(request: pytest.FixtureRequest) -> Case:
    return make_case(request.param, new_tokens=3)


def _capture(case: Case, **options: object) -> Trace:
    extractor = SaliencyExtractor(case.model, case.processor, text_columns=True, **options)  # type: ignore[arg-type]
    return extractor.capture(**case.inputs, generated_ids=case.generated, images=[case.image])


def test_attention_on_the_text_equals_eager_attention(case: Case) -> None:
    trace = _capture(case)
    reference, _ = eager_attentions(case)
    text = ~torch.tensor(trace.image_mask)
    for token in range(trace.total_generated_tokens):
        query = trace.gen_start + token - 1
        expected = torch.full((len(trace.token_ids),), float("nan"))
        causal = text & (torch.arange(len(trace.token_ids)) <= query)
        expected[causal] = reference[:, :, query][:, :, causal].mean((0, 1))
        torch.testing.assert_close(trace.text_attribution(token), expected, equal_nan=True, **CLOSE)
        image_share = trace.image_share(token).mean()
        text_share = trace.text_attribution(token).nansum()
        torch.testing.assert_close(image_share + text_share, torch.tensor(1.0), **CLOSE)  # a softmax row sums to 1


def test_gradients_on_the_text_equal_autograd(case: Case) -> None:
    trace = _capture(case)
    last = len(trace.token_ids) - 1
    reference, grads = eager_attentions(case, grad_of=last)
    assert grads is not None
    query = last - 1
    text = ~torch.tensor(trace.image_mask)
    causal = text & (torch.arange(len(trace.token_ids)) <= query)
    token = trace.total_generated_tokens - 1
    got = trace.text_attribution(token, "grad", layer_reduce="sum", head_reduce="sum")
    torch.testing.assert_close(got[causal], grads[:, :, query][:, :, causal].sum((0, 1)), **CLOSE)
    product = trace.text_attribution(token, "attn*grad", layer_reduce="sum", head_reduce="sum")
    expected = (reference[:, :, query] * grads[:, :, query])[:, :, causal].sum((0, 1))
    torch.testing.assert_close(product[causal], expected, **CLOSE)


def test_the_estimate_counts_the_text_columns_and_they_round_trip(case: Case, tmp_path: Path) -> None:
    extractor = SaliencyExtractor(case.model, case.processor, text_columns=True, gradients="sequence")
    plain = SaliencyExtractor(case.model, case.processor, gradients="sequence")
    trace = extractor.capture(**case.inputs, generated_ids=case.generated, images=[case.image])
    assert trace.data.text_attn is not None and trace.data.text_grad is not None
    extra = sum(t.numel() * t.element_size() for t in (trace.data.text_attn, trace.data.text_grad))
    estimate = extractor.estimate_trace_bytes(case.generated, **case.inputs)
    assert estimate == plain.estimate_trace_bytes(case.generated, **case.inputs) + extra
    trace.save(tmp_path / "t.safetensors")
    loaded = Trace.load(tmp_path / "t.safetensors")
    for mode in ("attn", "grad", "attn*grad"):
        # exact: the same tensors read back from the file
        torch.testing.assert_close(
            loaded.text_attribution(0, mode), trace.text_attribution(0, mode), rtol=0, atol=0, equal_nan=True
        )


def test_without_text_columns_the_error_says_how_to_keep_them() -> None:
    case = make_case("llava", new_tokens=2)
    trace = SaliencyExtractor(case.model, case.processor).capture(**case.inputs, generated_ids=case.generated)
    with pytest.raises(ValueError, match=r"text_columns=True"):
        trace.text_attribution(0)
    mllama = make_case("mllama", new_tokens=2)
    with pytest.raises(ValueError, match=r"cross-attention layers"):
        SaliencyExtractor(mllama.model, mllama.processor, text_columns=True)
