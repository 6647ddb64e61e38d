"""Idefics2's resampler latents: one one-cell view per latent, over its quadrant or over the whole picture.

The layout oracle cannot tell a quadrant's latents from another's (each view is one cell), so this paints each
quadrant and checks that the latents that change most are that quadrant's."""

from __future__ import annotations

import pytest
import torch

from vl_saliency_widget import SaliencyExtractor
from vl_saliency_widget.layouts.idefics2 import quadrant_boxes
from vl_saliency_widget.testing import tiny_image, tiny_inputs, tiny_vlm

from .test_layout_oracle import language_model_embeddings, perturbed


@pytest.mark.parametrize("size", [(84, 56), (41, 121)])
def test_painting_a_quadrant_changes_its_own_latents_most(size: tuple[int, int]) -> None:
    model, processor = tiny_vlm("idefics2")
    image = tiny_image(seed=3, size=size)
    trace = SaliencyExtractor(model, processor, store_grads=False).capture(
        **tiny_inputs("idefics2", processor, images=[image]), images=[image]
    )
    (layout,) = trace.image_layouts
    latents = model.config.perceiver_config.resampler_n_latents
    assert len(layout.views) == 5 * latents
    assert all(view.grid == (1, 1) for view in layout.views)
    quadrants = ["r1c1", "r1c2", "r2c1", "r2c2"]
    by_quadrant = {
        q: torch.cat([v.positions.reshape(-1) for v in layout.views if v.name.startswith(f"tile {q} ")])
        for q in quadrants
    }
    # The processor cuts the original picture at width // 2 and height // 2.
    width, height = size
    mid = (float(width // 2), float(height // 2))
    assert quadrant_boxes(size, exact=True)[3] == (*mid, float(width), float(height))
    for q in quadrants:
        assert {v.box for v in layout.views if v.name.startswith(f"tile {q} ")} == {
            quadrant_boxes(size, exact=True)[quadrants.index(q)]
        }
    base = language_model_embeddings(model, tiny_inputs("idefics2", processor, images=[image]))
    for q, box in zip(quadrants, quadrant_boxes(size, exact=True), strict=True):
        inputs = tiny_inputs("idefics2", processor, images=[perturbed(image, box)])
        change = (language_model_embeddings(model, inputs) - base).norm(dim=-1)
        # Only the painted quadrant's crop changes, so only its latents (and the whole picture's) move.
        hottest = max(quadrants, key=lambda other: float(change[by_quadrant[other]].max()))
        assert hottest == q
        painted = float(change[by_quadrant[q]].max())
        assert all(float(change[by_quadrant[other]].max()) < 1e-4 * painted for other in quadrants if other != q)
