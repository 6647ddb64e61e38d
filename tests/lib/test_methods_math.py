"""The maths of the declared methods on small hand-made tensors, each against a direct formula."""

from __future__ import annotations

import pytest
import torch

from vl_saliency_widget.core.map import SaliencyMap
from vl_saliency_widget.core.method import LayerMatrices, MethodInputs, Needs, needs_of, needs_of_all
from vl_saliency_widget.lib import Rollout, agcam, gradcam, relevancy, relevancy_row, rollout, rollout_row


def softmax_rows(generator: torch.Generator, heads: int, rows: int, keys: int) -> torch.Tensor:
    return torch.softmax(torch.randn(heads, rows, keys, generator=generator) * 2, dim=-1)


def layers(cross_at: int | None = None, text: int = 5, features: int = 3) -> list[LayerMatrices]:
    """Four layers of 2 heads over ``text`` positions; layer ``cross_at`` attends to ``features`` image features."""
    generator = torch.Generator().manual_seed(3)
    out = []
    for index in range(4):
        keys = features if index == cross_at else text
        attn = softmax_rows(generator, 2, text, keys)
        if keys == text:
            attn = attn * torch.ones(text, text).tril()  # causal rows, renormalised
            attn = attn / attn.sum(-1, keepdim=True)
        out.append(
            LayerMatrices(
                "cross" if index == cross_at else "self", attn, torch.randn(2, text, keys, generator=generator)
            )
        )
    return out


def joint(layer: LayerMatrices, weight: torch.Tensor, text: int, size: int) -> torch.Tensor:
    out = torch.zeros(size, size)
    if layer.kind == "self":
        out[:text, :text] = weight
    else:
        out[:text, text:] = weight
    return out


@pytest.mark.parametrize("cross_at", [None, 2])
def test_relevancy_row_is_a_row_of_the_chefer_product(cross_at: int | None) -> None:
    text, matrices = 5, layers(cross_at)
    size = text + (3 if cross_at is not None else 0)
    relevance = torch.eye(size)  # R <- R + mean_h((grad * A)^+) R, layer by layer
    for layer in matrices:
        relevance = relevance + joint(layer, (layer.grad * layer.attn).clamp(min=0).mean(0), text, size) @ relevance  # type: ignore[operator]
    for query in range(text):
        torch.testing.assert_close(relevancy_row(matrices, query, text), relevance[query])


@pytest.mark.parametrize("cross_at", [None, 2])
def test_rollout_row_is_a_row_of_the_rollout_product_and_sums_to_one(cross_at: int | None) -> None:
    text, matrices = 5, layers(cross_at)
    size = text + (3 if cross_at is not None else 0)
    rolled = torch.eye(size)
    for layer in matrices:
        step = joint(layer, 0.25 * layer.attn.mean(0), text, size)  # residual 0.75
        step[:text, :text] += 0.75 * torch.eye(text)
        step[text:, text:] = torch.eye(size - text)
        rolled = step @ rolled
    for query in range(text):
        row = rollout_row(matrices, query, text, residual=0.75)
        torch.testing.assert_close(row, rolled[query])
        torch.testing.assert_close(row.sum(), torch.tensor(1.0))


def test_relevancy_without_gradients_says_so() -> None:
    matrices = [LayerMatrices("self", torch.eye(3)[None], None)]
    with pytest.raises(ValueError, match="needs the gradients"):
        relevancy_row(matrices, 0, 3)


def test_rollout_residual_must_be_a_weight() -> None:
    with pytest.raises(ValueError, match=r"residual must lie in \[0, 1\]"):
        Rollout(residual=1.5)


def inputs(**sources: torch.Tensor) -> MethodInputs:
    return MethodInputs(
        position=3,
        query=2,
        text_length=5,
        sources={name: (lambda v=value: SaliencyMap(v)) for name, value in sources.items()},
        image_map=lambda values: SaliencyMap(values.reshape(*values.shape[:-1], 1, -1)),
    )


def test_agcam_is_sigmoid_of_scores_times_positive_score_gradient() -> None:
    generator = torch.Generator().manual_seed(1)
    scores = torch.randn(2, 3, 4, 4, generator=generator) * 4
    score_grad = torch.randn(2, 3, 4, 4, generator=generator)
    got = agcam(inputs(scores=scores, score_grad=score_grad)).tensor()
    torch.testing.assert_close(got, torch.sigmoid(scores) * score_grad.clamp(min=0))


def test_propagation_methods_map_the_image_part_of_the_joint_row() -> None:
    matrices = layers(cross_at=2)
    sources = {"matrices": lambda: matrices}
    method_inputs = MethodInputs(
        position=3, query=2, text_length=5, sources=sources, image_map=lambda v: SaliencyMap(v[..., 5:, None])
    )
    got = relevancy(method_inputs).tensor()
    assert got.shape == (1, 1, 3, 1)
    torch.testing.assert_close(got.flatten(), relevancy_row(matrices, 2, 5)[5:])
    torch.testing.assert_close(rollout(method_inputs).tensor().flatten(), rollout_row(matrices, 2, 5)[5:])


def test_needs_are_declared_and_combined() -> None:
    assert needs_of(gradcam) == Needs(attention=True, gradients=True)
    assert needs_of(agcam) == Needs(scores=True, gradients=True)
    assert needs_of_all(["attn", relevancy, rollout]) == Needs(attention=True, gradients=True, matrices=True)
    with pytest.raises(ValueError, match="Unknown method 'gradcam'"):
        needs_of_all(["gradcam"])
