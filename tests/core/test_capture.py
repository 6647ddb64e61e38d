"""The capture engine against independent references: eager ``output_attentions`` and plain autograd."""

from __future__ import annotations

import torch

from tests.cases import Case
from vl_saliency_widget import SaliencyExtractor
from vl_saliency_widget.layouts import uses_cross_attention
from vl_saliency_widget.selectors import AbsoluteIndex


def full_inputs(case: Case, model_type: str) -> dict[str, torch.Tensor]:
    """The prompt's processor outputs extended to prompt + answer, as generation extends them."""
    ids = case.generated
    prompt_len = case.inputs["input_ids"].shape[1]
    new = ids.shape[1] - prompt_len
    out = {k: v for k, v in case.inputs.items() if k not in ("input_ids", "labels")}
    out["input_ids"] = ids
    out["attention_mask"] = torch.ones_like(ids)
    if "token_type_ids" in out:
        prompt = out["token_type_ids"]
        fill = torch.ones(1, new, dtype=prompt.dtype) if model_type == "paligemma" else prompt[:, -1:].repeat(1, new)
        out["token_type_ids"] = torch.cat([prompt, fill], dim=1)
    if "cross_attention_mask" in out:
        prompt = out["cross_attention_mask"]
        out["cross_attention_mask"] = torch.cat([prompt, prompt[:, -1:].repeat(1, new, 1, 1)], dim=1)
    if "mm_token_type_ids" in out:
        prompt = out["mm_token_type_ids"]
        out["mm_token_type_ids"] = torch.cat([prompt, torch.zeros(1, new, dtype=prompt.dtype)], dim=1)
    return out


def eager_attentions(case: Case, *, grad_of: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Oracle: every layer's attention [layers, heads, T, keys] from an eager copy, and optionally the gradient of
    log p(token at position ``grad_of``) with respect to it, through ``retain_grad``.

    The layers are those where the image is among the keys: self-attention ([.., T, T]), or for a cross-attention
    model (Mllama) its cross-attention layers ([.., T, vision features]).
    """
    oracle = case.eager_copy()
    inputs = full_inputs(case, oracle.config.model_type)
    with torch.set_grad_enabled(grad_of is not None):
        out = oracle(**inputs, output_attentions=True, use_cache=False)
    length = case.generated.shape[1]
    cross = uses_cross_attention(oracle.config)
    attentions = [a for a in out.attentions if (a.shape[-1] != length) == cross]
    if grad_of is None:
        return torch.stack([a[0] for a in attentions]).detach(), None
    for a in attentions:
        a.retain_grad()
    log_p = torch.log_softmax(out.logits[0, grad_of - 1].float(), dim=-1)[case.generated[0, grad_of]]
    log_p.backward()
    grads = torch.stack([a.grad[0] for a in attentions])  # type: ignore[index]
    return torch.stack([a[0] for a in attentions]).detach(), grads


def view_slice(full: torch.Tensor, row: int, trace) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """[layers, heads, rows, cols] of a full [layers, heads, T, T] tensor at one query row, for image 0."""
    positions = trace.image_layouts[0].views[0].positions
    return full[:, :, row][:, :, positions]


def test_attention_equals_eager_output_attentions(case: Case) -> None:
    trace = SaliencyExtractor(case.model, case.processor).capture(
        **case.inputs, generated_ids=case.generated, images=[case.image]
    )
    reference, _ = eager_attentions(case)
    assert trace.attn is not None
    text = torch.tensor(trace.image_mask).logical_not()
    expected = reference[:, :, text][:, :, :, trace.columns]
    torch.testing.assert_close(trace.attn, expected, rtol=1e-4, atol=1e-6)
    main = trace.image_layouts[0].views[0].name
    for t in range(trace.total_generated_tokens):
        p = trace.gen_start + t
        torch.testing.assert_close(trace.map(t, "attn", view=main).tensor(), view_slice(reference, p - 1, trace))
        got = trace.map(t, "attn", align="token", view=main).tensor()
        torch.testing.assert_close(got, view_slice(reference, p, trace))


def test_prompt_tokens_map_through_absolute_index(case: Case) -> None:
    trace = SaliencyExtractor(case.model, case.processor, store_grads=False).capture(
        **case.inputs, generated_ids=case.generated, images=[case.image]
    )
    reference, _ = eager_attentions(case)
    p = trace.text_positions[0]
    assert p < trace.gen_start
    main = trace.image_layouts[0].views[0].name
    got = trace.map(AbsoluteIndex(p), view=main).tensor()
    torch.testing.assert_close(got, view_slice(reference, p - 1, trace))


def test_token_gradient_equals_autograd_reference(case: Case) -> None:
    trace = SaliencyExtractor(case.model, case.processor).capture(
        **case.inputs, generated_ids=case.generated, images=[case.image]
    )
    t = trace.total_generated_tokens - 1
    p = trace.gen_start + t
    _, reference = eager_attentions(case, grad_of=p)
    assert reference is not None
    assert not trace.grad_ready(p)
    main = trace.image_layouts[0].views[0].name
    grad = trace.map(t, "grad", view=main).tensor()
    assert trace.grad_ready(p)
    assert grad.abs().max() > 0
    torch.testing.assert_close(grad, view_slice(reference, p - 1, trace), rtol=1e-3, atol=1e-6)
    # Under causal masking log p(token) does not depend on the token's own query row.
    own = trace.map(t, "grad", align="token", view=main).tensor()
    torch.testing.assert_close(own, view_slice(reference, p, trace), rtol=1e-3, atol=1e-6)


def test_sequence_gradient_equals_teacher_forced_loss_gradient(case: Case) -> None:
    extractor = SaliencyExtractor(case.model, case.processor, gradients="sequence")
    trace = extractor.capture(**case.inputs, generated_ids=case.generated, images=[case.image])
    oracle = case.eager_copy()
    inputs = full_inputs(case, oracle.config.model_type)
    out = oracle(**inputs, labels=case.generated, output_attentions=True, use_cache=False)
    cross = uses_cross_attention(oracle.config)
    attentions = [a for a in out.attentions if (a.shape[-1] != case.generated.shape[1]) == cross]
    for a in attentions:
        a.retain_grad()
    out.loss.backward()
    reference = torch.stack([a.grad[0] for a in attentions])  # type: ignore[index]
    main = trace.image_layouts[0].views[0].name
    for t in range(trace.total_generated_tokens):
        p = trace.gen_start + t
        got = trace.map(t, "grad", align="token", view=main).tensor()
        torch.testing.assert_close(got, view_slice(reference, p, trace), rtol=1e-3, atol=1e-7)


def test_maps_of_many_tokens_equal_one_map_each(case: Case) -> None:
    trace = SaliencyExtractor(case.model, case.processor).capture(
        **case.inputs, generated_ids=case.generated, images=[case.image]
    )
    positions = trace.text_positions
    for mode in ("attn", "grad"):
        stacked = trace.maps(positions, mode)
        assert stacked.shape[0] == len(positions)
        for k, p in enumerate(positions[-3:], start=len(positions) - 3):
            torch.testing.assert_close(stacked[k], trace.map(AbsoluteIndex(p), mode).tensor())
