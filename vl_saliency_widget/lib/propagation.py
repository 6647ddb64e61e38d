"""Methods that follow attention through every layer: relevancy propagation and attention rollout.

Both are products of per-layer matrices over the whole sequence; a token's map is one row of that product, so it is
computed as a vector-matrix product per layer, from the last layer down to the first (O(layers x T x keys)), never
as a T x T x T product. In cross-attention models (Mllama) the vector runs over a joint axis: the sequence's
positions followed by the image features, which the language model never updates.
"""

from __future__ import annotations

import torch

from ..core.map import SaliencyMap
from ..core.method import LayerMatrices, MethodInputs, Needs, TraceMethod


def _split(vector: torch.Tensor, text: int) -> tuple[torch.Tensor, torch.Tensor]:
    return vector[:text], vector[text:]


def relevancy_row(matrices: list[LayerMatrices], query: int, text: int) -> torch.Tensor:
    """Row ``query`` of Chefer et al.'s relevancy map (arXiv 2103.15679), over the joint key axis.

    Per layer ``Abar = mean_h (grad * attn)^+``; self-attention updates ``R_tt <- R_tt + Abar R_tt`` and
    ``R_ti <- R_ti + Abar R_ti``; cross-attention (text queries, image keys) ``R_ti <- R_ti + Abar R_ii`` with
    ``R_ii = I`` (image features are not updated by the language model). Starting from ``R = I``, row ``query`` of
    the product is ``e_q (I + Abar_L) ... (I + Abar_1)``.

    Args:
        matrices: every layer in the order the layers ran, with gradients.
        query: the query row (absolute position).
        text: T, the number of sequence positions; the joint axis holds them and then the image features.

    Returns:
        [joint keys] relevancy of each key for the query row (the query's own entry includes the identity).
    """
    size = text + max((m.attn.shape[-1] for m in matrices if m.kind == "cross"), default=0)
    vector = torch.zeros(size)
    vector[query] = 1.0
    for layer in reversed(matrices):
        if layer.grad is None:
            raise ValueError("Relevancy needs the gradients of every layer's attention.")
        weight = (layer.grad * layer.attn).clamp(min=0).mean(dim=0)  # [T, keys]
        text_part, image_part = _split(vector, text)
        if layer.kind == "self":
            vector = torch.cat([text_part + text_part @ weight, image_part])
        else:
            vector = torch.cat([text_part, image_part + text_part @ weight])
    return vector


def rollout_row(matrices: list[LayerMatrices], query: int, text: int, residual: float = 0.5) -> torch.Tensor:
    """Row ``query`` of attention rollout (Abnar & Zuidema, arXiv 2005.00928), over the joint key axis.

    Per layer ``Atilde = (1 - residual) * mean_h(attn) + residual * I`` (the residual connection), and the rollout is
    ``Atilde_L ... Atilde_1``. In a cross-attention layer text rows are ``residual`` on themselves plus
    ``(1 - residual) * attn`` on the image features, image rows the identity.

    Returns:
        [joint keys]: the rolled-out attention of the query row (it sums to 1).
    """
    size = text + max((m.attn.shape[-1] for m in matrices if m.kind == "cross"), default=0)
    vector = torch.zeros(size)
    vector[query] = 1.0
    for layer in reversed(matrices):
        mean = layer.attn.mean(dim=0)  # [T, keys]
        text_part, image_part = _split(vector, text)
        if layer.kind == "self":
            vector = torch.cat([residual * text_part + (1 - residual) * (text_part @ mean), image_part])
        else:
            vector = torch.cat([residual * text_part, image_part + (1 - residual) * (text_part @ mean)])
    return vector


class Relevancy(TraceMethod):
    """Gradient-weighted relevancy propagation (Chefer, Gur & Wolf, arXiv 2103.15679), for the token's row only.

    Returns a [1, 1, H, W] map (one product over all layers and heads). Needs every layer's whole attention and
    gradient: ``SaliencyExtractor(..., methods=[lib.relevancy])`` (memory: layers x heads x T x T, twice).
    """

    needs = Needs(matrices=True, gradients=True)
    name = "relevancy"

    def compute(self, inputs: MethodInputs) -> SaliencyMap:
        return inputs.image_map(relevancy_row(inputs.matrices, inputs.query, inputs.text_length))


class Rollout(TraceMethod):
    """Attention rollout (Abnar & Zuidema, arXiv 2005.00928), for the token's row only.

    Args:
        residual: weight of the identity added for the residual connection (0.5 in the paper).

    Returns a [1, 1, H, W] map. Needs every layer's whole attention: ``SaliencyExtractor(...,
    methods=[lib.rollout])``.
    """

    needs = Needs(matrices=True)
    name = "rollout"

    def __init__(self, residual: float = 0.5) -> None:
        if not 0.0 <= residual <= 1.0:
            raise ValueError(f"residual must lie in [0, 1], not {residual}.")
        self.residual = residual

    def compute(self, inputs: MethodInputs) -> SaliencyMap:
        return inputs.image_map(rollout_row(inputs.matrices, inputs.query, inputs.text_length, self.residual))

    def __repr__(self) -> str:
        return f"Rollout(residual={self.residual})"


relevancy = Relevancy()
rollout = Rollout()
