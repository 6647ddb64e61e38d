"""Image to text: which tokens look at a region of the image, and which cells every token looks at (sinks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .method import Method
from .reduce import Reduction, reduce_layers_heads
from .regions import Region, region_mask

if TYPE_CHECKING:
    from .trace import Align, Trace


def tokens_for(
    trace: Trace,
    region: Region,
    image_index: int,
    mode: Method,
    align: Align,
    view: str | None,
    layer_reduce: Reduction,
    head_reduce: Reduction,
) -> torch.Tensor:
    """FloatTensor [T]: per position, how much the token's map puts on ``region``; see ``Trace.tokens_for``."""
    if not 0 <= image_index < trace.total_images:
        raise IndexError(f"image_index {image_index} is out of range: this trace has {trace.total_images} image(s).")
    if align == "predicting":
        positions = trace.text_positions
    elif align == "token":
        positions = trace.captured_rows.tolist()
    else:
        raise ValueError(f"align must be 'predicting' or 'token', not {align!r}.")
    if isinstance(mode, str):
        values = trace.maps(
            positions, mode, image_index, align=align, view=view, layer_reduce=layer_reduce, head_reduce=head_reduce
        )
    else:
        maps = (trace.map_at(p, mode, image_index, align=align, view=view).tensor() for p in positions)
        values = torch.stack([reduce_layers_heads(m, layer_reduce, head_reduce) for m in maps])
    layout = trace.image_layouts[image_index]
    if view is None:
        size = layout.size
    else:
        left, top, right, bottom = layout.view(view).box
        size = (round(right - left), round(bottom - top))
        if isinstance(region, tuple) and len(region) == 4:
            region = (region[0] - left, region[1] - top, region[2] - left, region[3] - top)
    mask = region_mask(region, (values.shape[-2], values.shape[-1]), size)
    out = torch.full((len(trace.token_ids),), float("nan"))
    out[torch.as_tensor(positions, dtype=torch.long)] = values[..., mask].sum(-1).reshape(len(positions)).float()
    return out


def sinks(
    trace: Trace, image_index: int, view: str | None, share: float, quantile: float, max_queries: int
) -> torch.Tensor:
    """BoolTensor [layers, heads, H, W]: the cells every text query attends to; see ``Trace.sinks``."""
    if trace.attn is None:
        raise ValueError("Finding sinks needs attention: capture with store_attns=True.")
    if not 0.0 <= quantile < 1.0 or share <= 0:
        raise ValueError(f"quantile must lie in [0, 1) and share be positive, not {quantile} and {share}.")
    rows = trace.captured_rows.tolist()
    step = max(1, len(rows) // max_queries)
    values = trace.maps(rows[::step][:max_queries], "attn", image_index, align="token", view=view)
    cells = values.shape[-2] * values.shape[-1]
    scaled = values / values.sum(dim=(-2, -1), keepdim=True).clamp(min=1e-30)
    k = max(1, int(quantile * scaled.shape[0]) + 1) if quantile > 0 else 1
    low = scaled.kthvalue(min(k, scaled.shape[0]), dim=0).values
    return low > share / cells
