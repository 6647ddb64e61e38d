"""Traces built by hand, without a model, over a known grid: one 4 x 6 picture with chosen attention.

Import it as ``from tests.traces import ...``. The trace's tokens are "<bos>", the picture's ROWS x COLS image tokens,
then TEXT text tokens, the last half of them generated; each image cell is 10 x 10 pixels of a 60 x 40 picture.
"""

from __future__ import annotations

import torch

from vl_saliency_widget import Trace
from vl_saliency_widget.core.record import TraceData
from vl_saliency_widget.layouts.base import ImageLayout, View
from vl_saliency_widget.testing import tiny_image

ROWS, COLS, TEXT = 4, 6, 8
IMAGE = 1
"""The image token's id; text tokens take ids 3 to 2 + TEXT, "<bos>" is 2."""


def make_trace(attn: torch.Tensor) -> Trace:
    """A trace of "<bos>", a 4 x 6 picture's tokens, then TEXT text tokens; ``attn`` [L, H, 1 + TEXT, 24].

    Its gradients are ``attn`` centred on each row's mean (sequence gradients, so every token is ready).
    """
    cells = ROWS * COLS
    picture = tiny_image(size=(COLS * 10, ROWS * 10))
    layout = ImageLayout(
        views=(View("base", torch.arange(1, 1 + cells).reshape(ROWS, COLS), (0.0, 0.0, 60.0, 40.0)),),
        size=picture.size,
    )
    return Trace(
        TraceData(
            token_ids=[2] + [IMAGE] * cells + list(range(3, 3 + TEXT)),
            gen_start=1 + cells + TEXT // 2,
            image_token_id=IMAGE,
            image_layouts=[layout],
            images=[picture],
            attn=attn,
            grad=attn - attn.mean(-1, keepdim=True),
            gradients="sequence",
        )
    )


def random_trace(seed: int = 0) -> Trace:
    """:func:`make_trace` over random attention of 2 layers and 3 heads, each row summing to 1."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.rand(2, 3, 1 + TEXT, ROWS * COLS, generator=generator)
    return make_trace(values / values.sum(-1, keepdim=True))
