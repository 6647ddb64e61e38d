"""What an exported page holds so that it works without a kernel (``js/offline.ts`` answers the view from it).

For every method of the menu: every token's aggregated map that needs no backward pass, and the answer's tokens'
maps (computed here, a backward pass each for a gradient method); the [layers, heads, h, w] maps of the answer's
tokens for the layers x heads grid, the current method first, while they fit in a size budget; and a heading with
the prompt and the answer, read from the trace's tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from ..core.method import Method
from ..core.trace import Trace
from ..viz.tokens import display_text
from .maps import Controls, Maps
from .previews import Previews
from .protocol import describe
from .reliance import focus_state
from .serialize import encode_array

GRID_BUDGET_MIB = 32.0
"""How many MiB of float32 [layers, heads, h, w] maps an exported page holds for its layers x heads grids."""


def heading(trace: Trace) -> dict[str, str]:
    """The prompt's and the answer's text: the trace's text tokens before and from the first generated one, special
    tokens (chat markers, end of sequence) left out."""
    text = [display_text(token) for token in trace.token_strings]
    special, image = trace.special_mask, trace.image_mask
    words = [p for p in range(len(text)) if not special[p] and not image[p]]
    return {
        "prompt": "".join(text[p] for p in words if p < trace.gen_start).strip(),
        "answer": "".join(text[p] for p in words if p >= trace.gen_start).strip(),
    }


def static_state(
    trace: Trace,
    methods: Mapping[str, Method],
    controls: Controls,
    current: tuple[str, Previews],
    budget_mib: float = GRID_BUDGET_MIB,
) -> dict[str, Any]:
    """The ``static`` part of an exported page's state (see ``js/offline.ts``'s ``StaticData``): every method's maps,
    the heading, and each answer token's ``focus`` (its image share per layer and its attribution to the text).

    Args:
        trace: the widget's trace.
        methods: the method menu, by name.
        controls: the widget's controls (pipeline, image, reductions); each method is mapped with them.
        current: the current method's name and the widget's previews of it (kept: they hold what
            ``compute_all`` computed).
        budget_mib: how many MiB of float32 grids the page may hold.
    """
    answer = [position for position in trace.text_positions if position >= trace.gen_start]
    budget = int(budget_mib * 2**20)
    name, previews = current
    order = [name, *(other for other in methods if other != name)]
    held: dict[str, Any] = {}
    for method_name in order:
        method = methods[method_name]
        maps = Maps(trace, lambda method=method: replace(controls, method=method))  # type: ignore[misc]
        notes: list[str] = []
        if method_name == name:
            maps.previews = previews.copy()
        else:
            try:
                maps.refresh()
            except Exception as error:  # a method that fails on this trace still gets a menu entry that says so
                notes.append(describe(error))
        positions, grids, budget, more = _grids(maps, answer, budget, notes)
        layers, heads = grids.shape[1:3] if len(grids) else (0, 0)
        layer_labels, head_labels = trace.axis_labels(layers, heads) if len(grids) else ([], [])
        if more:
            notes.append(
                f"{more} of the answer's {len(answer)} tokens are left out for want of room (the page holds "
                f"{budget_mib:g} MiB of layers × heads maps: to_html(grid_budget_mib=...) sets it)"
            )
        held[method_name] = {
            "previews": maps.previews.state(),
            "grids": {
                "positions": encode_array(np.asarray(positions, dtype=np.int32)),
                "maps": encode_array(grids),
            },
            "layer_labels": layer_labels,
            "head_labels": head_labels,
            "note": "; ".join(notes),
        }
    # the reliance bars are the same for every token (the ``reliance`` trait); the chart and the attribution are not
    focus = {str(position): focus_state(trace, position) for position in answer}
    return {"heading": heading(trace), "methods": held, "budget_mib": budget_mib, "focus": focus}


def _grids(maps: Maps, answer: list[int], budget: int, notes: list[str]) -> tuple[list[int], np.ndarray, int, int]:
    """The ``answer`` positions whose maps fit in ``budget`` bytes and those maps, float32 [tokens, layers, heads,
    h, w] (each token's preview stored on the way); the budget left; how many did not fit. A map that cannot be
    computed is described in ``notes``."""
    positions: list[int] = []
    kept: list[np.ndarray] = []
    more = 0
    failed: list[str] = []
    for position in answer:
        try:
            smap = maps.compute(position)
        except Exception as error:
            failed.append(describe(error))
            continue
        if not maps.previews.is_ready(position):
            maps.previews.store(position, maps.aggregate(smap))
        values = smap.numpy().astype(np.float32)
        if values.nbytes > budget or (kept and values.shape != kept[0].shape):
            more += 1
            continue
        budget -= values.nbytes
        positions.append(position)
        kept.append(values)
    if failed:
        notes.append(f"the maps of {len(failed)} of the answer's tokens could not be computed ({failed[0]})")
    grids = np.stack(kept) if kept else np.zeros((0, 0, 0, 0, 0), dtype=np.float32)
    return positions, grids, budget, more
