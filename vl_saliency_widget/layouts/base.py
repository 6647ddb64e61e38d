"""Image layouts: which sequence positions hold an image's tokens and where each sits on the picture.

A layout is derived from the processor outputs and the model config, never guessed from a tensor's size.
Each architecture family has one module that registers a ``LayoutFn`` for its ``model_type``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

Box = tuple[float, float, float, float]
"""(left, top, right, bottom) in pixels of the frame the layout refers to."""


@dataclass(frozen=True)
class View:
    """One grid of image tokens: the whole image, a tile, a crop or a thumbnail.

    Attributes:
        name: Human-readable name (``"base"``, ``"tile r1c2"``, ``"global"``, ``"crop 1"``).
        positions: LongTensor [rows, cols] of absolute sequence positions, row-major over the picture.
        box: (left, top, right, bottom) of the area this view covers, in pixels of ``ImageLayout.size``.
    """

    name: str
    positions: torch.Tensor
    box: Box

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, cols) of the view's token grid."""
        rows, cols = self.positions.shape
        return int(rows), int(cols)


@dataclass(frozen=True)
class ImageLayout:
    """Where one image's tokens sit.

    Attributes:
        views: The image's views; ``views[0]`` is the main one (the whole picture at the finest grid).
        size: (width, height) in pixels of the frame the boxes are given in: the original picture when the
            capture was given ``images=``, else the processed frame.
        extra_positions: positions that carry the image's token id but are not cells (a CLS feature, newline
            features); they are neither rows nor cells of any map.
    """

    views: tuple[View, ...]
    size: tuple[int, int]
    extra_positions: tuple[int, ...] = ()

    @property
    def positions(self) -> torch.Tensor:
        """LongTensor [n] of every cell position of every view, in view order."""
        return torch.cat([v.positions.reshape(-1) for v in self.views])

    def view(self, name: str | None = None) -> View:
        """The view called ``name`` (default: the main view)."""
        if name is None:
            return self.views[0]
        for v in self.views:
            if v.name == name:
                return v
        raise ValueError(f"This image has no view {name!r}; its views are {[v.name for v in self.views]}.")


@dataclass
class LayoutContext:
    """Everything a layout function may read.

    Attributes:
        config: The model config (``model.config``).
        processor: The processor, or None.
        input_ids: LongTensor [T] of the whole sequence (prompt and generated).
        image_token_id: The token id that marks image positions.
        inputs: The processor outputs passed to ``capture`` (``pixel_values``, ``image_grid_thw``, ...).
        images: The original pictures, in prompt order, or None.
    """

    config: Any
    processor: Any
    input_ids: torch.Tensor
    image_token_id: int
    inputs: Mapping[str, Any]
    images: list[Image.Image] | None = None
    image_positions: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.image_positions = torch.nonzero(self.input_ids == self.image_token_id).flatten()

    def frame_size(self, index: int, processed: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of the frame boxes are given in: the original picture if known, else ``processed``."""
        if self.images is not None:
            return self.images[index].size
        return processed

    def split_runs(self, counts: list[int]) -> list[torch.Tensor]:
        """Split the image positions, in order, into one LongTensor per image of ``counts[i]`` positions.

        Raises:
            ValueError: if the number of image tokens in ``input_ids`` differs from what the grids imply.
        """
        total = int(self.image_positions.numel())
        if total != sum(counts):
            raise ValueError(
                f"input_ids hold {total} image tokens (id {self.image_token_id}), but the processor outputs describe "
                f"{len(counts)} image(s) with {counts} tokens (total {sum(counts)}). Pass the processor outputs "
                "unchanged (input_ids, pixel_values and the grid tensors from the same processor call)."
            )
        return list(torch.split(self.image_positions, counts))


LayoutFn = Callable[[LayoutContext], list[ImageLayout]]

_REGISTRY: dict[str, LayoutFn] = {}
_CROSS_ATTENTION: set[str] = set()


def register_layout(model_type: str, fn: LayoutFn, *, cross_attention: bool = False) -> None:
    """Register ``fn`` as the layout of ``model_type`` (``config.model_type``), replacing any earlier one.

    Args:
        cross_attention: the image reaches the text only through cross-attention layers (Mllama); the views'
            positions then index the cross-attention key axis instead of the sequence.
    """
    _REGISTRY[model_type] = fn
    if cross_attention:
        _CROSS_ATTENTION.add(model_type)
    else:
        _CROSS_ATTENTION.discard(model_type)


def uses_cross_attention(config: Any) -> bool:
    """Whether the model's layout indexes cross-attention keys (see ``register_layout``)."""
    return getattr(config, "model_type", None) in _CROSS_ATTENTION


def registered_model_types() -> list[str]:
    """The model types a layout is registered for."""
    return sorted(_REGISTRY)


def layout_for(config: Any) -> LayoutFn:
    """The layout function registered for ``config.model_type``.

    Raises:
        NotImplementedError: naming the model type and how to register a layout for it.
    """
    model_type = getattr(config, "model_type", None)
    if model_type not in _REGISTRY:
        raise NotImplementedError(
            f"No image layout is known for model_type {model_type!r} (known: {registered_model_types()}). "
            "Describe where its image tokens sit with vl_saliency_widget.layouts.register_layout(model_type, fn), "
            "where fn(ctx) returns one ImageLayout per image whose views give the [rows, cols] sequence positions "
            "of each grid."
        )
    return _REGISTRY[model_type]


PicturesFn = Callable[[LayoutContext], list[Image.Image]]

_PICTURES: dict[str, PicturesFn] = {}


def register_pictures(model_type: str, fn: PicturesFn) -> None:
    """Register how to rebuild the processed pictures of ``model_type`` from its ``pixel_values``."""
    _PICTURES[model_type] = fn


def processed_pictures(ctx: LayoutContext) -> list[Image.Image]:
    """The pictures as the model saw them, rebuilt from ``pixel_values`` (one per image, the first crop of each).

    Used when ``capture`` was not given the original pictures.
    """
    fn = _PICTURES.get(getattr(ctx.config, "model_type", ""))
    if fn is not None:
        return fn(ctx)
    pixel_values = ctx.inputs.get("pixel_values")
    if pixel_values is None or pixel_values.ndim not in (4, 5):
        raise ValueError(
            "Cannot rebuild the pictures from pixel_values of this model; pass the original pictures to "
            "capture(..., images=[...])."
        )
    image_processor = getattr(ctx.processor, "image_processor", None)
    frames = pixel_values if pixel_values.ndim == 4 else pixel_values[:, 0]
    return [unnormalize(frame, image_processor) for frame in frames]


def grid_view(name: str, positions: torch.Tensor, rows: int, cols: int, box: Box) -> View:
    """A view over ``rows x cols`` consecutive, row-major positions."""
    if positions.numel() != rows * cols:
        raise ValueError(f"View {name!r}: {positions.numel()} positions cannot form a {rows}x{cols} grid.")
    return View(name=name, positions=positions.reshape(rows, cols).clone(), box=box)


def tile_box(row: int, col: int, rows: int, cols: int, size: tuple[int, int]) -> Box:
    """The box of tile (``row``, ``col``), counted from 0, of a ``rows x cols`` even cut of a (width, height) frame."""
    width, height = size
    return (col * width / cols, row * height / rows, (col + 1) * width / cols, (row + 1) * height / rows)


def full_box(size: tuple[int, int]) -> Box:
    """The box covering a whole ``(width, height)`` frame."""
    return (0.0, 0.0, float(size[0]), float(size[1]))


def unnormalize(pixels: torch.Tensor, image_processor: Any) -> Image.Image:
    """Turn one processed image [3, H, W] back into a picture, undoing the processor's rescale and normalisation."""
    x = pixels.detach().float().cpu()
    mean = getattr(image_processor, "image_mean", None)
    std = getattr(image_processor, "image_std", None)
    if getattr(image_processor, "do_normalize", True) and mean is not None and std is not None:
        x = x * torch.tensor(std).view(-1, 1, 1) + torch.tensor(mean).view(-1, 1, 1)
    scale = getattr(image_processor, "rescale_factor", 1 / 255)
    if not getattr(image_processor, "do_rescale", True):
        scale = 1.0
    arr = (x / scale).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., :3] if arr.shape[-1] >= 3 else arr[..., 0])
