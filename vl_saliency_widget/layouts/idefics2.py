"""Idefics2: a perceiver resampler turns each view into a fixed number of latent tokens that have no place in it.

Per image the processor writes ``<fake_token_around_image>`` + N x ``<image>`` per view, N being the resampler's
``resampler_n_latents``. With ``do_image_splitting`` an image is 5 views: its four quadrants (the picture cut at
half its width and height, top-left, top-right, bottom-left, bottom-right, each resized on its own), then the whole
picture; without, it is the whole picture alone.

The N image tokens of a view are not patches: each is a learned latent query that cross-attends to every patch of
its view, so none has a place inside the view. A cell is therefore one latent token covering its whole view: the
layout gives each latent its own one-cell view (``"global latent k"`` over the whole picture, ``"tile rRcC latent
k"`` over a quadrant, k from 1). Spread over the picture, a map shows how much went to each quadrant and to the
whole picture, nothing finer; the share of each latent is in its own view.
"""

from __future__ import annotations

import torch
from PIL import Image

from .base import (
    Box,
    ImageLayout,
    LayoutContext,
    View,
    full_box,
    grid_view,
    register_layout,
    register_pictures,
    tile_box,
    unnormalize,
)
from .idefics3 import image_runs

_QUADRANTS = ((1, 1), (1, 2), (2, 1), (2, 2))
"""(row, col) of the four crops, in the order the image processor cuts them."""


def quadrant_boxes(size: tuple[int, int], exact: bool) -> list[Box]:
    """The boxes of the four crops of a (width, height) picture, in its pixels.

    Args:
        exact: the picture is the original one, which the processor cuts at ``width // 2`` and ``height // 2``;
            else a processed frame, cut in halves.
    """
    width, height = size
    if not exact:
        return [tile_box(r - 1, c - 1, 2, 2, size) for r, c in _QUADRANTS]
    mid_w, mid_h = float(width // 2), float(height // 2)
    xs, ys = (0.0, mid_w, float(width)), (0.0, mid_h, float(height))
    return [(xs[c - 1], ys[r - 1], xs[c], ys[r]) for r, c in _QUADRANTS]


def _views_per_image(ctx: LayoutContext, runs: int) -> int:
    """5 with image splitting, else 1: from the pictures given, or else the image processor's setting."""
    if ctx.images is not None:
        per_image, left = divmod(runs, max(len(ctx.images), 1))
        if left or per_image not in (1, 5):
            raise ValueError(
                f"The prompt holds {runs} views of image tokens, which is not 1 or 5 per picture for "
                f"{len(ctx.images)} picture(s): pass the pictures given to the processor."
            )
        return per_image
    splitting = bool(getattr(getattr(ctx.processor, "image_processor", None), "do_image_splitting", False))
    per_image = 5 if splitting else 1
    if runs % per_image:
        raise ValueError(f"{runs} views of image tokens are not {per_image} per picture; pass images=[...].")
    return per_image


def _processed_sizes(ctx: LayoutContext) -> list[tuple[int, int]]:
    """(width, height) of every processed view, without the padding the processor added."""
    mask = ctx.inputs.get("pixel_attention_mask")
    pixel_values = ctx.inputs["pixel_values"]
    views = pixel_values.reshape(-1, *pixel_values.shape[-3:])
    if mask is None:
        return [(int(views.shape[-1]), int(views.shape[-2]))] * int(views.shape[0])
    mask = mask.reshape(-1, *mask.shape[-2:])
    return [(int(m.any(dim=0).sum()), int(m.any(dim=1).sum())) for m in mask]


def idefics2_layout(ctx: LayoutContext) -> list[ImageLayout]:
    """One one-cell view per latent token: ``"global latent k"`` first, then ``"tile rRcC latent k"``."""
    latents = int(ctx.config.perceiver_config.resampler_n_latents)
    runs = image_runs(ctx)
    if any(run.numel() != latents for run in runs):
        raise ValueError(
            f"Idefics2 views are runs of {latents} image tokens (resampler_n_latents), but the prompt holds runs of "
            f"{[run.numel() for run in runs]}."
        )
    per_image = _views_per_image(ctx, len(runs))
    processed = _processed_sizes(ctx)
    layouts = []
    for index, start in enumerate(range(0, len(runs), per_image)):
        size = ctx.frame_size(index, processed[min(start + per_image - 1, len(processed) - 1)])
        boxes = quadrant_boxes(size, exact=ctx.images is not None) if per_image == 5 else []
        views: list[View] = [
            _one_cell(f"global latent {k + 1}", p, full_box(size)) for k, p in enumerate(runs[start + per_image - 1])
        ]
        for (r, c), box, run in zip(_QUADRANTS, boxes, runs[start : start + per_image - 1], strict=True):
            views += [_one_cell(f"tile r{r}c{c} latent {k + 1}", p, box) for k, p in enumerate(run)]
        layouts.append(ImageLayout(views=tuple(views), size=size))
    return layouts


def _one_cell(name: str, position: torch.Tensor, box: Box) -> View:
    return grid_view(name, position.reshape(1), 1, 1, box)


def idefics2_pictures(ctx: LayoutContext) -> list[Image.Image]:
    """The whole-picture view of each image as processed, without its padding."""
    pixel_values = ctx.inputs["pixel_values"]
    views = pixel_values.reshape(-1, *pixel_values.shape[-3:])
    per_image = _views_per_image(ctx, len(image_runs(ctx)))
    sizes = _processed_sizes(ctx)
    image_processor = getattr(ctx.processor, "image_processor", None)
    pictures = []
    for last in range(per_image - 1, len(image_runs(ctx)), per_image):
        width, height = sizes[last]
        pictures.append(unnormalize(views[last, :, :height, :width], image_processor))
    return pictures


register_layout("idefics2", idefics2_layout)
register_pictures("idefics2", idefics2_pictures)
