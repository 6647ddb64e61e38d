"""What the view is told once, when the widget is made: the token strip and the pictures under the maps."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..core.trace import Trace
from ..viz.tokens import display_text
from .serialize import encode_array


def check_trace(trace: Any) -> Trace:
    """``trace`` when it is a Trace, else a TypeError that says what the widget takes."""
    if not isinstance(trace, Trace):
        raise TypeError(
            f"SaliencyWidget takes the Trace that SaliencyExtractor(model, processor).capture(...) returns, "
            f"not {type(trace).__name__}; to draw one map, use smap.agg().plot(image)."
        )
    return trace


def first_token(trace: Trace, token: int | None) -> int:
    """The position to select first: ``token``, or by default the first generated token that can be mapped."""
    mappable = trace.text_positions
    if not mappable:
        raise ValueError("This trace has no token that can be mapped (no text token follows a text token).")
    return token if token is not None else next((p for p in mappable if p >= trace.gen_start), mappable[0])


def check_image_index(index: int, trace: Trace) -> int:
    """``index`` when the prompt has that image; else a ValueError naming the range."""
    if not 0 <= index < trace.total_images:
        raise ValueError(f"image_index must be in 0..{trace.total_images - 1}.")
    return int(index)


def token_strip(trace: Trace) -> dict[str, Any]:
    """The ``tokens`` trait: each token's text as it reads (``viz.tokens.display_text``), kinds and grounding (how
    much each text token attends to the image(s), in [0, 1]), and the mappable positions, the order of every
    per-token buffer."""
    image_of = trace.image_of.numpy().astype(np.int32)
    grounding = np.zeros(len(trace.token_ids), dtype=np.float32)
    if "attn" in trace.modes:
        for i in range(trace.total_images):
            # Reduced before the gather, 64 MiB of rows at a time (Trace.maps): each attention entry read once.
            maps = trace.maps(trace.text_positions, "attn", i, layer_reduce="mean", head_reduce="mean")
            grounding[trace.text_positions] += maps[:, 0, 0].sum((-1, -2)).numpy()
        grounding /= max(float(grounding.max()), 1e-12)
    return {
        "text": [display_text(token) for token in trace.token_strings],
        "special": trace.special_mask,
        "image_of": encode_array(image_of),
        "gen_start": trace.gen_start,
        "mappable": encode_array(np.asarray(trace.text_positions, dtype=np.int32)),
        "grounding": encode_array(grounding),
    }


def pictures(image: Image.Image | Sequence[Image.Image] | None, trace: Trace) -> list[Image.Image]:
    """The pictures to draw under the maps, one per image of the prompt, checked."""
    if image is None:
        return list(trace.images)
    chosen = [image] if isinstance(image, Image.Image) else image
    if isinstance(chosen, (str, bytes, os.PathLike)) or not isinstance(chosen, Sequence):
        raise TypeError(
            f"image= takes a PIL.Image.Image or a list of them (one per image of the prompt), not "
            f"{type(image).__name__}: open a file with PIL.Image.open(path), convert an array with "
            "PIL.Image.fromarray(array)."
        )
    wrong = sorted({type(p).__name__ for p in chosen if not isinstance(p, Image.Image)})
    if wrong:
        raise TypeError(
            f"image= holds {', '.join(wrong)} where PIL pictures are expected: open files with PIL.Image.open(path), "
            "convert arrays with PIL.Image.fromarray(array)."
        )
    if len(chosen) != trace.total_images:
        raise ValueError(
            f"Got {len(chosen)} picture(s) for a trace of {trace.total_images} image(s): pass one picture per "
            "image of the prompt, in prompt order, or leave image= out to draw the captured pictures."
        )
    return list(chosen)
