"""A [1, 1, H, W] saliency map drawn over its image with matplotlib."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from ..core.map import SaliencyMap
from ..transforms.functional import normalize
from ..transforms.spatial import Upscale

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from PIL.Image import Image


def overlay(
    saliency_map: SaliencyMap,
    image: Image | np.ndarray | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = "Saliency Map",
    figsize: tuple[float, float] = (6, 6),
    show_colorbar: bool = True,
    **imshow_kwargs: Any,
) -> Figure:
    """Draw a saliency map, min-max scaled to [0, 1], over an image; a signed map (negative and positive values, as
    ``lib.difference`` makes) is scaled by its largest magnitude to [-1, 1] and drawn with a diverging colormap
    centred on 0.

    The map is resized bilinearly to the image's pixel size; without an image it is drawn at its own
    resolution. Nothing is displayed: the figure is returned (``SaliencyMap.plot`` shows it).

    Args:
        saliency_map: a single map, shape [1, 1, H, W] (use ``.agg()`` first).
        image: PIL image, or array [height, width] / [height, width, channels], drawn underneath.
        ax: axes to draw on; by default a new figure of size ``figsize`` (inches) is made, outside pyplot.
        title: axes title, or None for none.
        figsize: size of a new figure in inches.
        show_colorbar: add a colorbar for the scaled saliency.
        **imshow_kwargs: passed to ``imshow`` for the map; defaults ``cmap="inferno"``, ``alpha=0.5`` over an
            image (1.0 without), ``vmin=0``, ``vmax=1`` (``cmap="RdBu_r"``, ``vmin=-1`` for a signed map).

    Returns:
        The root figure holding the axes.

    Raises:
        ValueError: the map is not [1, 1, H, W].
    """
    if saliency_map.shape[0] != 1 or saliency_map.shape[1] != 1:
        raise ValueError(
            f"overlay() draws a single map of shape [1, 1, H, W], got {list(saliency_map.shape)}; "
            "call .agg() (or select one head) first."
        )
    pixels = None if image is None else np.asarray(image)
    if pixels is not None:
        saliency_map = saliency_map >> Upscale(pixels.shape[0], pixels.shape[1], mode="bilinear")
    values = saliency_map.numpy()[0, 0]
    signed = bool(values.min() < 0 < values.max())
    # [height, width]: in [-1, 1] with 0 kept at 0 for a signed map, else min-max scaled to [0, 1]
    heat = values / np.abs(values).max() if signed else normalize(saliency_map).numpy()[0, 0]

    if ax is None:
        ax = Figure(figsize=figsize).add_subplot()
    if pixels is not None:
        ax.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None)
    style = {
        "cmap": "RdBu_r" if signed else "inferno",
        "alpha": 0.5 if pixels is not None else 1.0,
        "vmin": -1.0 if signed else 0.0,
        "vmax": 1.0,
    }
    drawn = ax.imshow(heat, **{**style, **imshow_kwargs})
    if show_colorbar:
        label = "Signed saliency (scaled by the largest magnitude)" if signed else "Saliency (scaled to [0, 1])"
        ax.figure.colorbar(drawn, ax=ax, label=label)
    if title:
        ax.set_title(title)
    ax.set_axis_off()
    parent = ax.figure
    return parent if isinstance(parent, Figure) else parent.figure


def show_figure(fig: Figure) -> None:
    """Display a figure the way pyplot would: inline in a notebook, in a window with an interactive backend.

    With a non-interactive backend (e.g. Agg) nothing is shown and nothing warns. Outside interactive mode the
    figure is released from pyplot afterwards, so repeated plots do not pile up; it stays usable (``savefig``).
    """
    import matplotlib.pyplot as plt

    plt.figure(fig)
    plt.show()
    if not plt.isinteractive():
        plt.close(fig)
