"""Traces built without a model: chosen token strings, any number of layers, heads and tokens, random attention.

The browser tests import this module in the notebook's kernel (``from tests.widget.synthetic import ...``), so
it needs nothing beyond the package itself.
"""

from __future__ import annotations

import torch

from vl_saliency_widget import Trace
from vl_saliency_widget.core.record import TraceData
from vl_saliency_widget.layouts.base import ImageLayout, View
from vl_saliency_widget.testing import tiny_image

IMAGE_TOKEN_ID = 1
"""The id that marks image positions in a synthetic trace; text tokens get ids from 2 on."""


def synthetic_trace(
    strings: list[str],
    *,
    layers: int = 2,
    heads: int = 2,
    grid: tuple[int, int] = (4, 6),
    gen_start: int | None = None,
    seed: int = 0,
    attn: bool = True,
    text_columns: bool = False,
    reliance: bool = False,
) -> Trace:
    """A trace of one picture followed by ``strings`` as text tokens, with random attention [layers, heads, R, I].

    Args:
        strings: the text tokens' strings, in order; they follow a first "<bos>" token and the image tokens.
        layers, heads: the attention's first two axes.
        grid: (rows, cols) of the picture's image tokens.
        gen_start: index into ``strings`` of the first generated token; default: the last quarter is generated.
        seed: seeds the attention values and the picture.
        attn: False gives a trace with gradients only (sequence gradients, so every token is ready).
        text_columns: also give every text row's attention on the text positions (``text_attribution`` works);
            each row's image share is then drawn in [0.2, 0.8], its text share the rest.
        reliance: store a blur ``reliance`` table (random log-probabilities of the answer tokens), as if run.
    """
    rows, cols = grid
    cells = rows * cols
    token_ids = [2] + [IMAGE_TOKEN_ID] * cells + [3 + i for i in range(len(strings))]
    first_text = 1 + cells
    picture = tiny_image(seed=seed, size=(cols * 14, rows * 14))
    positions = torch.arange(1, 1 + cells).reshape(rows, cols)
    layout = ImageLayout(
        views=(View("base", positions, (0.0, 0.0, float(picture.width), float(picture.height))),),
        size=picture.size,
    )
    generator = torch.Generator().manual_seed(seed)
    text_rows = 1 + len(strings)
    values = torch.rand(layers, heads, text_rows, cells, generator=generator)
    values = values / values.sum(-1, keepdim=True)
    start = len(strings) - max(1, len(strings) // 4) if gen_start is None else gen_start
    token_strings = ["<bos>"] + ["<image>"] * cells + list(strings)
    total = 1 + cells + len(strings)
    columns = torch.tensor([0, *range(first_text, total)], dtype=torch.long) if text_columns else None
    text_attn = None
    if text_columns:
        on_text = torch.rand(layers, heads, text_rows, text_rows, generator=generator)
        on_text = on_text / on_text.sum(-1, keepdim=True)
        share = 0.2 + 0.6 * torch.rand(layers, heads, text_rows, 1, generator=generator)
        values = values * share
        text_attn = on_text * (1 - share)
    perturbations: dict[str, torch.Tensor] = {}
    if reliance:
        table = torch.full((2, total), float("nan"))
        answer = torch.arange(first_text + start, total)
        table[:, answer] = -torch.rand(2, len(answer), generator=generator) * 3
        perturbations["reliance baseline=blur"] = table
    trace = Trace(
        TraceData(
            token_ids=token_ids,
            gen_start=first_text + start,
            image_token_id=IMAGE_TOKEN_ID,
            image_layouts=[layout],
            images=[picture],
            attn=values if attn else None,
            grad=None if attn else values - values.mean(-1, keepdim=True),
            gradients="sequence",
            token_strings=token_strings,
            special_mask=[True] + [True] * cells + [False] * len(strings),
            text_columns=columns,
            text_attn=text_attn,
        )
    )
    trace.data.perturbations.update(perturbations)
    return trace
