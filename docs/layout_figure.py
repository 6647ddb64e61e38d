"""Draw docs/layout-oracle.png: the layout oracle made visible on a tiled architecture.

For a 4:3 and a 1:3 picture, a spot is painted; the change of every image token's language-model input embedding
is mapped onto the whole picture through the package's own layout and canvas, and overlaid with
``SaliencyMap.plot``'s overlay. A right layout puts the hot cells on the painted spot, for every tile and the
global view. Run: ``python docs/layout_figure.py`` (a few seconds on a CPU).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from PIL import Image, ImageDraw

from vl_saliency_widget import SaliencyExtractor, SaliencyMap
from vl_saliency_widget.layouts.canvas import canvas
from vl_saliency_widget.testing import tiny_image, tiny_inputs, tiny_vlm
from vl_saliency_widget.viz import overlay

OUT = Path(__file__).with_name("layout-oracle.png")


def embeddings(model: Any, inputs: Any) -> torch.Tensor:
    seen: dict[str, torch.Tensor] = {}

    def grab(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        seen["e"] = kwargs["inputs_embeds"]

    handle = model.get_decoder().register_forward_pre_hook(grab, with_kwargs=True)
    with torch.no_grad():
        model(**inputs)
    handle.remove()
    return seen["e"][0]


def painted(image: Image.Image, spot: tuple[float, float, float, float]) -> Image.Image:
    out = image.copy()
    ImageDraw.Draw(out).ellipse(spot, fill=(255, 0, 255))
    return out


def main() -> None:
    name = "idefics3"
    model, processor = tiny_vlm(name)
    cases = [((168, 126), (100, 20, 120, 40)), ((60, 180), (15, 130, 35, 150))]
    fig, axes = plt.subplots(1, len(cases), figsize=(9, 5.5), gridspec_kw={"width_ratios": [1.6, 0.8]})
    for ax, (size, spot) in zip(axes, cases, strict=True):
        image = tiny_image(seed=7, size=size)
        trace = SaliencyExtractor(model, processor, store_grads=False).capture(
            **tiny_inputs(name, processor, images=[image]), images=[image]
        )
        layout = trace.image_layouts[0]
        before = embeddings(model, tiny_inputs(name, processor, images=[image]))
        after = embeddings(model, tiny_inputs(name, processor, images=[painted(image, spot)]))
        grid = canvas(layout)
        change = (after - before).norm(dim=-1)[grid.positions]
        smap = SaliencyMap(grid.apply(change)[None, None])
        overlay(smap, painted(image, spot), ax=ax, title=None, show_colorbar=False)
        views = ", ".join(v.name for v in layout.views)
        ax.set_title(f"{size[0]}x{size[1]} px: {views}", fontsize=8)
    fig.suptitle("Painting a spot (magenta) moves the embeddings the layout puts there (idefics3, tiles + global)")
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
