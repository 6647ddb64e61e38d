"""What methods declare they need, captured, against independent references on every zoo architecture.

- pre-softmax scores: ``log A - S`` is the same for every kept key of a row (S is what the softmax took);
- their gradient: the softmax Jacobian applied to the whole-row ``dL/dA`` of an eager copy (``retain_grad``);
- whole matrices: equal to eager ``output_attentions`` for every layer, gradients to ``retain_grad``;
- relevancy and rollout: the row-only products equal the full T x T matrix products of the eager matrices.
"""

from __future__ import annotations

import pytest
import torch

from tests.cases import Case
from vl_saliency_widget import SaliencyExtractor, lib
from vl_saliency_widget import transforms as T
from vl_saliency_widget.core.map import SaliencyMap
from vl_saliency_widget.core.method import MethodInputs, Needs, TraceMethod
from vl_saliency_widget.layouts import uses_cross_attention

from .test_capture import full_inputs


class ScoreGrad(TraceMethod):
    """The token's score gradient map, as a method sees it."""

    needs = Needs(scores=True, gradients=True)

    def compute(self, inputs: MethodInputs) -> SaliencyMap:
        return inputs.score_grad


def all_eager(case: Case, position: int) -> tuple[list[torch.Tensor], list[torch.Tensor], bool]:
    """Oracle: every layer's attention [heads, T, keys] from an eager copy (self and cross layers, in the order
    they ran) and the gradient of log p(token at ``position``) with respect to each, by ``retain_grad``."""
    oracle = case.eager_copy()
    inputs = full_inputs(case, oracle.config.model_type)
    out = oracle(**inputs, output_attentions=True, use_cache=False)
    attentions = list(out.attentions)
    if getattr(out, "cross_attentions", None):  # not used by the zoo's models, which return one list
        attentions += list(out.cross_attentions)
    for a in attentions:
        a.retain_grad()
    log_p = torch.log_softmax(out.logits[0, position - 1].float(), dim=-1)[case.generated[0, position]]
    log_p.backward()
    return [a[0].detach() for a in attentions], [a.grad[0] for a in attentions], uses_cross_attention(oracle.config)


@pytest.fixture(scope="module")
def traced(case: Case):  # type: ignore[no-untyped-def]
    extractor = SaliencyExtractor(case.model, case.processor, methods=[lib.agcam, lib.relevancy, lib.rollout])
    trace = extractor.capture(**case.inputs, generated_ids=case.generated, images=[case.image])
    position = trace.gen_start + trace.total_generated_tokens - 1
    return trace, position, all_eager(case, position)


def test_scores_are_the_softmax_inputs_of_the_kept_attention(traced) -> None:  # type: ignore[no-untyped-def]
    trace, _, _ = traced
    assert trace.scores is not None and trace.attn is not None
    assert trace.scores.shape == trace.attn.shape
    finite = trace.attn > 1e-30
    offset = torch.where(finite, trace.attn.double().log() - trace.scores.double(), torch.nan)
    spread = (offset.nan_to_num(-1e9).amax(-1) - offset.nan_to_num(1e9).amin(-1))[finite.any(-1)]
    assert spread.abs().max() < 1e-3  # one log-sum-exp per row: S is what the softmax normalised


def test_score_gradient_is_the_softmax_jacobian_of_the_autograd_reference(traced) -> None:  # type: ignore[no-untyped-def]
    trace, position, (attentions, grads, cross) = traced
    layers = [i for i, a in enumerate(attentions) if (a.shape[-1] != len(trace.token_ids)) == cross]
    attn = torch.stack([attentions[i] for i in layers])
    grad = torch.stack([grads[i] for i in layers])
    reference = attn * (grad - (attn * grad).sum(-1, keepdim=True))  # dL/dS of a softmax row
    row = position - 1
    main = trace.image_layouts[0].views[0]
    expected = reference[:, :, row][:, :, main.positions]  # positions index the keys (features in Mllama)
    got = trace.map(trace.total_generated_tokens - 1, ScoreGrad(), view=main.name).tensor()
    assert expected.abs().max() > 0
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-7)


def test_whole_matrices_and_gradients_equal_eager(traced) -> None:  # type: ignore[no-untyped-def]
    trace, position, (attentions, grads, _) = traced
    full = trace.matrices
    assert full is not None and len(full.attn) == len(attentions)
    for kept, reference in zip(full.attn, attentions, strict=True):
        torch.testing.assert_close(kept, reference, rtol=1e-4, atol=1e-6)
    for kept, reference in zip(full.gradients_for(position), grads, strict=True):
        torch.testing.assert_close(kept, reference, rtol=1e-3, atol=1e-7)


def joint_axis(attentions: list[torch.Tensor], text: int) -> tuple[list[str], int]:
    """Each layer's kind and the length of the joint axis: T positions, then the image features (cross)."""
    features = max((a.shape[-1] for a in attentions if a.shape[-1] != text), default=0)
    return ["self" if a.shape[-1] == text else "cross" for a in attentions], text + features


def place(matrix: torch.Tensor, kind: str, text: int, size: int) -> torch.Tensor:
    """[T, keys] -> [size, size]: text rows, keys at the sequence (self) or at the features (cross)."""
    out = torch.zeros(size, size)
    if kind == "self":
        out[:text, :text] = matrix
    else:
        out[:text, text:] = matrix
    return out


def test_relevancy_equals_the_full_matrix_product(traced) -> None:  # type: ignore[no-untyped-def]
    trace, position, (attentions, grads, cross) = traced
    text = len(trace.token_ids)
    kinds, size = joint_axis(attentions, text)
    relevance = torch.eye(size)
    for a, g, kind in zip(attentions, grads, kinds, strict=True):
        weight = place((a * g).clamp(min=0).mean(0), kind, text, size)
        relevance = relevance + weight @ relevance
    row = relevance[position - 1]
    main = trace.image_layouts[0].views[0]
    keys = (text + main.positions) if cross else main.positions
    got = trace.map(trace.total_generated_tokens - 1, lib.relevancy, view=main.name).tensor()
    assert got.shape == (1, 1, *main.grid)
    torch.testing.assert_close(got[0, 0], row[keys], rtol=1e-3, atol=1e-8)


def test_rollout_equals_the_full_matrix_product(traced) -> None:  # type: ignore[no-untyped-def]
    trace, position, (attentions, _, cross) = traced
    text = len(trace.token_ids)
    kinds, size = joint_axis(attentions, text)
    rolled = torch.eye(size)
    for a, kind in zip(attentions, kinds, strict=True):
        step = place(0.5 * a.mean(0), kind, text, size)
        step[:text, :text] += 0.5 * torch.eye(text)
        step[text:, text:] = torch.eye(size - text)
        rolled = step @ rolled
    row = rolled[position - 1]
    torch.testing.assert_close(row.sum(), torch.tensor(1.0), rtol=1e-4, atol=1e-4)
    main = trace.image_layouts[0].views[0]
    keys = (text + main.positions) if cross else main.positions
    got = trace.map(trace.total_generated_tokens - 1, lib.rollout, view=main.name).tensor()
    torch.testing.assert_close(got[0, 0], row[keys], rtol=1e-4, atol=1e-7)


def test_a_method_without_what_it_needs_says_how_to_capture_it(case: Case) -> None:
    trace = SaliencyExtractor(case.model, case.processor).capture(
        **case.inputs, generated_ids=case.generated, images=[case.image]
    )
    with pytest.raises(ValueError, match=r"relevancy needs every layer's whole.*methods=\[relevancy\]"):
        trace.map(0, lib.relevancy)
    with pytest.raises(ValueError, match=r"agcam needs pre-softmax scores"):
        trace.map(0, lib.agcam)
    assert trace.missing(Needs(attention=True, gradients=True)) == []


def test_image_to_text_sinks_and_differences_run_on_every_architecture(traced) -> None:  # type: ignore[no-untyped-def]
    trace, position, _ = traced
    layout = trace.image_layouts[0]
    width, height = layout.size
    box = (0.0, 0.0, width / 2, height / 2)
    scores = trace.tokens_for(box, mode=lib.gradcam)
    answer = trace.map(trace.total_generated_tokens - 1, lib.gradcam).agg().tensor()[0, 0]
    rows, cols = answer.shape
    top_left = answer[: -(-rows // 2), : -(-cols // 2)]  # the cells overlapping the box's top-left quarter
    torch.testing.assert_close(scores[position], top_left.sum())
    assert torch.isnan(scores[trace.image_mask.index(True)])
    sinks = trace.sinks()
    assert sinks.shape == trace.map(0).shape and sinks.dtype == torch.bool
    masked = trace.map(0) >> T.MaskSinks(sinks)
    assert torch.equal(masked.tensor()[~sinks], trace.map(0).tensor()[~sinks])  # exact: kept as they are
    signed = lib.difference(trace.map(0).agg(), trace.map(1).agg())
    assert abs(float(signed.tensor().sum())) < 1e-4  # two unit-mass, non-negative maps
