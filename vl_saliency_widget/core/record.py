"""TraceData: what one capture recorded, as plain data. The extractor builds it from a model's pass, storage from
a file; a Trace is made from it and gives it back (``Trace.data``) to be saved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from PIL import Image

from ..layouts import ImageLayout
from .gradients import TokenGradients, WholeMatrices

GradientKind = Literal["token", "sequence"]


@dataclass
class TraceData:
    """One capture's record. Kept values are [layers, heads, R, I]: R captured text-query rows, I image columns.

    Attributes:
        token_ids: every token id of the sequence, prompt and generated.
        gen_start: position of the first generated token (0 when the capture had no generated_ids).
        image_token_id: the id marking image positions.
        image_layouts: per image, where its tokens sit (views with [rows, cols] positions and boxes).
        images: per image, the picture the maps are drawn over.
        gradients: "token" (per-token gradients) or "sequence" (one whole-sequence gradient).
        has_grad: whether gradients were captured (a trace read from a file may hold only some per-token ones).
        attn: [layers, heads, R, I] attention probabilities, or None.
        grad: [layers, heads, R, I] the whole-sequence gradient with respect to them, or None.
        token_grads: {(position, row): [layers, heads, I]} per-token gradient rows computed so far.
        token_gradients: a fresh capture's graph for the per-token gradients not computed yet, or None.
        scores: [layers, heads, R, I] pre-softmax scores (methods that need them), or None.
        score_row_grad: [layers, heads, R] per row ``sum_k A_ik dL/dA_ik`` over all keys, the whole-sequence part of
            the score gradients, or None.
        score_row_gradients: a fresh capture's graph for that row sum per token, or None.
        matrices: every layer's whole attention matrix (methods that need all rows), or None.
        columns: LongTensor [I]: the key index of each captured column when the image is not in the sequence
            (cross-attention models); None: the image-token positions.
        rows: LongTensor [R]: the captured query positions when the capture kept only some (``rows="answer"``);
            None: every text position.
        layer_indices, head_indices: the model's index of each captured layer and head; None: all, in order.
        token_strings, special_mask: per position, the token as the tokenizer spells it and whether it is special;
            None: asked of the processor.
        inputs: the processor outputs of the prompt as given to ``capture`` (``input_ids`` included), on the CPU:
            what the methods that run the model again need; None for a trace saved before they were kept.
        perturbations: the tables the methods that run the model computed (``core.perturb.Perturbations``), by
            the method, its settings and the image.
        text_columns: LongTensor [Tt] of the text positions whose attention columns were kept too
            (``text_columns=True``: attribution to the text); None: not kept.
        text_attn: [layers, heads, R, Tt] attention of the captured rows on those text positions, or None.
        text_grad: [layers, heads, R, Tt] the whole-sequence gradient with respect to it, or None.
        text_token_gradients: a fresh capture's graph for its per-token gradients, or None.
    """

    token_ids: list[int]
    gen_start: int
    image_token_id: int
    image_layouts: list[ImageLayout]
    images: list[Image.Image]
    gradients: GradientKind = "token"
    has_grad: bool = False
    attn: torch.Tensor | None = None
    grad: torch.Tensor | None = None
    token_grads: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    token_gradients: TokenGradients | None = None
    scores: torch.Tensor | None = None
    score_row_grad: torch.Tensor | None = None
    score_row_gradients: TokenGradients | None = None
    matrices: WholeMatrices | None = None
    columns: torch.Tensor | None = None
    rows: torch.Tensor | None = None
    layer_indices: list[int] | None = None
    head_indices: list[int] | None = None
    token_strings: list[str] | None = None
    special_mask: list[bool] | None = None
    inputs: dict[str, torch.Tensor] | None = None
    perturbations: dict[str, torch.Tensor] = field(default_factory=dict)
    text_columns: torch.Tensor | None = None
    text_attn: torch.Tensor | None = None
    text_grad: torch.Tensor | None = None
    text_token_gradients: TokenGradients | None = None

    def __post_init__(self) -> None:
        # Gradients held are gradients captured, whatever the caller said.
        self.has_grad = (
            self.has_grad or self.grad is not None or self.token_gradients is not None or bool(self.token_grads)
        )
