"""Map arithmetic on traces built directly from tensors: no model involved.

``map_agg_normalize``: ``trace.map(t, "attn").agg() >> T.normalize()`` on a trace whose maps are
``[layers, heads, side, side]``, and the same ``.agg() >> T.normalize()`` on a ``SaliencyMap`` made from a tensor.
``maps_500``: ``trace.maps(500 positions, "attn")`` and the widget's preview reduction of it (mean over layers and
heads), the all-tokens precompute for 500 tokens.
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
from vl_saliency_widget.core.trace import Trace
from vl_saliency_widget.layouts import ImageLayout, View

IMAGE_TOKEN = 5
TEXT_TOKEN = 7


def synthetic_trace(layers: int, heads: int, side: int, text_tokens: int, seed: int = 0) -> Trace:
    """A trace of ``text_tokens`` text tokens after one ``side`` x ``side`` image, random attention [L, H, R, I]."""
    token_ids = [TEXT_TOKEN] * 4 + [IMAGE_TOKEN] * side * side + [TEXT_TOKEN] * (text_tokens - 4)
    positions = torch.arange(4, 4 + side * side).reshape(side, side)
    size = (side * 14, side * 14)
    layout = ImageLayout(views=(View("base", positions, (0.0, 0.0, float(size[0]), float(size[1]))),), size=size)
    generator = torch.Generator().manual_seed(seed)
    attn = torch.rand(layers, heads, text_tokens, side * side, generator=generator)
    return Trace(
        token_ids=token_ids,
        gen_start=len(token_ids) - text_tokens + 4,
        image_token_id=IMAGE_TOKEN,
        image_layouts=[layout],
        images=[Image.new("RGB", size)],
        attn=attn,
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


def _preview(trace: Trace, positions: list[int]) -> torch.Tensor:
    return trace.maps(positions, "attn").mean((1, 2))


def map_agg_normalize(shapes: list[tuple[int, int, int]], budget: float) -> dict[str, Any]:
    """Seconds per ``map + agg + normalize`` for each ``(layers, heads, side)``."""
    results: dict[str, Any] = {}
    for layers, heads, side in shapes:
        trace = synthetic_trace(layers, heads, side, text_tokens=40)
        smap = SaliencyMap(torch.rand(layers, heads, side, side))
        results[f"[{layers}, {heads}, {side}, {side}]"] = {
            "trace.map + agg + normalize": per_call(partial(_map_agg_normalize, trace), budget),
            "SaliencyMap.agg + normalize": per_call(partial(_agg_normalize, smap), budget),
        }
    return results


def maps_500(shapes: list[tuple[int, int, int]], tokens: int, budget: float) -> dict[str, Any]:
    """Seconds of ``trace.maps`` for ``tokens`` tokens, and of the widget's preview (its mean over layers, heads)."""
    results: dict[str, Any] = {}
    for layers, heads, side in shapes:
        trace = synthetic_trace(layers, heads, side, text_tokens=tokens + 5)
        positions = list(range(len(trace.token_ids) - tokens, len(trace.token_ids)))
        results[f"[{layers}, {heads}, {side}, {side}]"] = {
            f"trace.maps ({tokens} tokens)": per_call(partial(_maps, trace, positions), budget, 3),
            f"trace.maps ({tokens} tokens) + layer/head mean": per_call(partial(_preview, trace, positions), budget, 3),
        }
    return results


def micro(shapes: list[tuple[int, int, int]], tokens: int, budget: float) -> dict[str, Any]:
    """Both measurements for each ``(layers, heads, side)``: ``map_agg_normalize`` and ``maps`` of ``tokens``."""
    return {"map_agg_normalize": map_agg_normalize(shapes, budget), "maps": maps_500(shapes, tokens, budget)}
