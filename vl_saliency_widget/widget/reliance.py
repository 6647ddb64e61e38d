"""What the answer relies on, for the view: the reliance bar under each answer token, the selected token's share of
attention on the image per layer, and its attribution to the earlier text tokens (``trace.reliance``,
``trace.image_share``, ``trace.text_attribution``; README, "What the answer relies on").

Each function returns a trait's value, or ``{}`` when the trace cannot give it (no model to run for reliance, a
cross-attention model for the image share, no text columns for the attribution): the view then shows nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.trace import Trace
from ..selectors import AbsoluteIndex
from .serialize import encode_array


def reliance_state(trace: Trace, baseline: str = "blur") -> dict[str, Any]:
    """The ``reliance`` trait: ``trace.reliance(baseline)``'s delta (float32 [T], NaN where not scored), with and
    without the image, from_image (uint8 [T]) and the threshold; ``{}`` when the trace cannot run its model."""
    try:
        reliance = trace.reliance(baseline=baseline)
    except Exception:  # no model (a loaded trace), no processor inputs, or the passes failed: show nothing
        return {}
    delta = reliance.delta.float().numpy().astype(np.float32)
    return {
        "baseline": baseline,
        "threshold": float(reliance.threshold),
        "delta": encode_array(delta),
        "with_image": encode_array(reliance.with_image.float().numpy().astype(np.float32)),
        "without_image": encode_array(reliance.without_image.float().numpy().astype(np.float32)),
        "from_image": encode_array(reliance.from_image.numpy().astype(np.uint8)),
    }


def focus_state(trace: Trace, position: int) -> dict[str, Any]:
    """The ``focus`` trait for the selected token: its image share per layer (mean over heads, float32 [layers])
    with the layers' labels, and its attribution to the text (float32 [T], NaN at image tokens and after it), each
    left out when the trace cannot give it."""
    state: dict[str, Any] = {"token": int(position)}
    token = AbsoluteIndex(position)
    try:
        share = trace.image_share(token).float().mean(-1).numpy().astype(np.float32)
        labels = trace.axis_labels(share.shape[0], 1)[0] if share.size else []
        state["image_share"] = encode_array(share)
        state["layer_labels"] = [int(label) for label in labels]
    except Exception:  # cross-attention model or no attention captured: no chart
        pass
    try:
        attribution = trace.text_attribution(token, "attn").float().numpy().astype(np.float32)
        state["attribution"] = encode_array(attribution)
    except Exception:  # no text columns: no toggle
        pass
    return state
