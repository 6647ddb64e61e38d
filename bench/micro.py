"""Map arithmetic on traces built directly from tensors: no model involved.

``map_agg_normalize``: ``trace.map(t, "attn").agg() >> T.normalize()`` on a trace whose maps are
``[layers, heads, side, side]``, and the same ``.agg() >> T.normalize()`` on a ``SaliencyMap`` made from a tensor.
``maps_500``: ``trace.maps(500 positions, "attn")``; the layer/head mean of that stack (the widget's preview before
``maps`` could reduce); and ``maps(..., layer_reduce=, head_reduce=)``, the widget's all-tokens precompute, which
reduces before it gathers. The same on a tiled layout (2 x 2 tiles and a thumbnail spread onto one canvas).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from PIL import Image

from vl_saliency_widget.core.map import SaliencyMap
from vl_saliency_widget.core.record import TraceData
from vl_saliency_widget.core.trace import Trace
from vl_saliency_widget.layouts import ImageLayout, View
from vl_saliency_widget.transforms.layers import Reduction

IMAGE_TOKEN = 5
TEXT_TOKEN = 7


def synthetic_trace(layers: int, heads: int, side: int, text_tokens: int, seed: int = 0, tiled: bool = False) -> Trace:
    """A trace of ``text_tokens`` text tokens after one image, random attention [L, H, R, I].

    The image is one ``side`` x ``side`` grid, or with ``tiled`` 2 x 2 tiles of ``side / 2`` x ``side / 2`` cells and a
    thumbnail of the same size over the whole picture (as Idefics3 and InternVL cut pictures): a ``side`` x ``side``
    canvas from ``1.25 * side**2`` image tokens.
    """
    size = (side * 14, side * 14)
    if tiled:
        half, width = side // 2, float(size[0])
        step = width / 2
        boxes = [(c * step, r * step, (c + 1) * step, (r + 1) * step) for r in (0, 1) for c in (0, 1)]
        boxes.append((0.0, 0.0, width, width))
        views = tuple(
            View(f"view {k}", torch.arange(4 + k * half * half, 4 + (k + 1) * half * half).reshape(half, half), box)
            for k, box in enumerate(boxes)
        )
    else:
        views = (View("base", torch.arange(4, 4 + side * side).reshape(side, side), (0.0, 0.0, *map(float, size))),)
    image_tokens = sum(v.positions.numel() for v in views)
    token_ids = [TEXT_TOKEN] * 4 + [IMAGE_TOKEN] * image_tokens + [TEXT_TOKEN] * (text_tokens - 4)
    layout = ImageLayout(views=views, size=size)
    generator = torch.Generator().manual_seed(seed)
    attn = torch.rand(layers, heads, text_tokens, image_tokens, generator=generator)
    return Trace(
        TraceData(
            token_ids=token_ids,
            gen_start=len(token_ids) - text_tokens + 4,
            image_token_id=IMAGE_TOKEN,
            image_layouts=[layout],
            images=[Image.new("RGB", size)],
            attn=attn,
        )
    )


def per_call(fn: Callable[[], Any], budget: float, min_calls: int = 5) -> dict[str, Any]:
    """Median seconds of ``fn()`` over as many calls as fit in ``budget`` seconds (after one warm-up call)."""
    fn()
    seconds: list[float] = []
    deadline = time.perf_counter() + budget
    while len(seconds) < min_calls or time.perf_counter() < deadline:
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return {"seconds": statistics.median(seconds), "calls": len(seconds)}


def _map_agg_normalize(trace: Trace) -> SaliencyMap:
    from vl_saliency_widget import transforms as T

    return trace.map(3, "attn").agg() >> T.normalize()


def _agg_normalize(smap: SaliencyMap) -> SaliencyMap:
    from vl_saliency_widget import transforms as T

    return smap.agg() >> T.normalize()


def _maps(trace: Trace, positions: list[int]) -> torch.Tensor:
    return trace.maps(positions, "attn")


def _gather_then_mean(trace: Trace, positions: list[int]) -> torch.Tensor:
    return trace.maps(positions, "attn").mean((1, 2))


def _reduced(trace: Trace, positions: list[int], reduction: Reduction) -> torch.Tensor:
    return trace.maps(positions, "attn", layer_reduce=reduction, head_reduce=reduction)


MAP = "trace.map + agg + normalize"
PRECOMPUTE = "trace.maps(layer_reduce='mean', head_reduce='mean')"


def _label(layers: int, heads: int, side: int, tiled: bool) -> str:
    return f"[{layers}, {heads}, {side}, {side}]" + (", tiled" if tiled else "")


def map_agg_normalize(shapes: list[tuple[int, int, int]], budget: float) -> dict[str, Any]:
    """Seconds per ``map + agg + normalize`` for each ``(layers, heads, side)``, plain and tiled."""
    results: dict[str, Any] = {}
    for layers, heads, side in shapes:
        for tiled in (False, True):
            trace = synthetic_trace(layers, heads, side, text_tokens=40, tiled=tiled)
            row = {MAP: per_call(partial(_map_agg_normalize, trace), budget)}
            if not tiled:
                smap = SaliencyMap(torch.rand(layers, heads, side, side))
                row["SaliencyMap.agg + normalize"] = per_call(partial(_agg_normalize, smap), budget)
            results[_label(layers, heads, side, tiled)] = row
    return results


def maps_500(shapes: list[tuple[int, int, int]], tokens: int, budget: float) -> dict[str, Any]:
    """Seconds of ``trace.maps`` for ``tokens`` tokens: the whole stack, its layer/head mean, and the reduced call."""
    results: dict[str, Any] = {}
    for layers, heads, side in shapes:
        for tiled in (False, True):
            trace = synthetic_trace(layers, heads, side, text_tokens=tokens + 5, tiled=tiled)
            positions = list(range(len(trace.token_ids) - tokens, len(trace.token_ids)))
            row = {}
            if not tiled:  # a tiled stack of every layer and head is spread onto the canvas map by map: seconds
                row[f"trace.maps ({tokens} tokens)"] = per_call(partial(_maps, trace, positions), budget, 3)
                row["trace.maps, then mean over layers and heads"] = per_call(
                    partial(_gather_then_mean, trace, positions), budget, 3
                )
            row[PRECOMPUTE] = per_call(partial(_reduced, trace, positions, "mean"), budget, 3)
            row["trace.maps(layer_reduce='max', head_reduce='max')"] = per_call(
                partial(_reduced, trace, positions, "max"), budget, 3
            )
            results[_label(layers, heads, side, tiled)] = row
    return results


def micro(shapes: list[tuple[int, int, int]], tokens: int, budget: float) -> dict[str, Any]:
    """Both measurements for each ``(layers, heads, side)``: ``map_agg_normalize`` and ``maps`` of ``tokens``."""
    return {"map_agg_normalize": map_agg_normalize(shapes, budget), "maps": maps_500(shapes, tokens, budget)}
