"""Layout oracle: perturb a small region of the original picture, run the processor and the model's own embedding
path, and check that the positions whose language-model input embeddings change most are those the layout puts
over that region — in every view. This catches transposed grids, wrong tile order and off-by-one separators."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from PIL import Image, ImageDraw

from vl_saliency_widget import SaliencyExtractor
from vl_saliency_widget.layouts import Box, View
from vl_saliency_widget.testing import ARCHITECTURES, tiny_image, tiny_inputs, tiny_vlm


def language_model_embeddings(model: Any, inputs: Any) -> torch.Tensor:
    """What the language model receives of the image, along the axis the layout's positions index:
    [T, hidden] ``inputs_embeds`` (text embeddings with image features merged), or for a cross-attention model
    (Mllama) [keys, hidden] ``cross_attention_states``."""
    seen: dict[str, torch.Tensor] = {}

    def grab(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        states = kwargs.get("cross_attention_states")
        if states is not None:
            seen["embeds"] = states.reshape(1, -1, states.shape[-1])
        else:
            seen["embeds"] = kwargs["inputs_embeds"]

    handle = model.get_decoder().register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        handle.remove()
    return seen["embeds"][0]


def cell_box(view: View, row: int, col: int) -> Box:
    left, top, right, bottom = view.box
    rows, cols = view.grid
    w, h = (right - left) / cols, (bottom - top) / rows
    return (left + col * w, top + row * h, left + (col + 1) * w, top + (row + 1) * h)


def central_half(box: Box) -> Box:
    left, top, right, bottom = box
    dx, dy = (right - left) / 4, (bottom - top) / 4
    return (left + dx, top + dy, right - dx, bottom - dy)


def perturbed(image: Image.Image, box: Box) -> Image.Image:
    """The picture with the central half of ``box`` painted in a colour far from what was there."""
    left, top, right, bottom = central_half(box)
    out = image.copy()
    ImageDraw.Draw(out).rectangle((left, top, right - 1, bottom - 1), fill=(255, 0, 255))
    return out


def overlaps(a: Box, b: Box) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


CASES = [(name, {}) for name in ARCHITECTURES] + [("gemma3", {"do_pan_and_scan": True})]


@pytest.mark.parametrize(("name", "options"), CASES, ids=[n + (" pan-and-scan" if o else "") for n, o in CASES])
@pytest.mark.parametrize("size", [(84, 56), (40, 120)], ids=["4:3-ish", "1:3"])
def test_perturbed_region_lands_on_the_layouts_cells(name: str, options: dict[str, Any], size: tuple[int, int]) -> None:
    model, processor = tiny_vlm(name)
    image = tiny_image(seed=3, size=size)
    trace = SaliencyExtractor(model, processor, store_grads=False).capture(
        **tiny_inputs(name, processor, images=[image], **options), images=[image]
    )
    layout = trace.image_layouts[0]
    if options:
        assert len(layout.views) > 1, "pan-and-scan should have cut crops"
    base = language_model_embeddings(model, tiny_inputs(name, processor, images=[image], **options))
    for painted in layout.views:
        rows, cols = painted.grid
        for row, col in {(0, 0), (0, cols - 1), (rows - 1, 0), (rows - 1, cols - 1), (rows // 2, cols // 2)}:
            target = cell_box(painted, row, col)
            if not overlaps(central_half(target), (0, 0, *image.size)):
                continue  # a cell of padding the processor added (Mllama): nothing there to paint
            inputs = tiny_inputs(name, processor, images=[perturbed(image, target)], **options)
            change = (language_model_embeddings(model, inputs) - base).norm(dim=-1)
            spot = central_half(target)
            # The painted cell changes most in its own view; in every other view over the painted spot, the most
            # changed cell is one under the spot.
            for view in layout.views:
                if not overlaps(view.box, spot):
                    continue
                hottest = int(change[view.positions].argmax())
                r, c = divmod(hottest, view.grid[1])
                ok = (r, c) == (row, col) if view is painted else overlaps(cell_box(view, r, c), spot)
                assert ok, (
                    f"{name} {size}: painting cell ({row}, {col}) of view {painted.name!r} changed cell ({r}, {c}) "
                    f"of view {view.name!r} most"
                )
