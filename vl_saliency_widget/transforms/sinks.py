"""Masking artifact cells: image tokens that draw attention whatever the text asks (attention sinks, high-norm
register-like tokens; Darcet et al. arXiv 2309.16588, Kang et al. arXiv 2503.03321)."""

from __future__ import annotations

import torch

from ..core.map import SaliencyMap
from .pipe import Chainable


class MaskSinks(Chainable):
    """Set the cells of ``sinks`` to ``fill`` (before normalising, so a sink does not swallow the colour scale).

    Args:
        sinks: BoolTensor of sink cells, [H, W] (every layer and head) or [layers, heads, H, W]
            (``trace.sinks()`` finds them). On a map already reduced over layers or heads (size 1 on that axis), a
            cell is masked if it is a sink in any layer or head.
        fill: the value masked cells take.

    Raises:
        TypeError: ``sinks`` is not a boolean tensor.
        ValueError: its grid or its layers and heads do not match the map's.
    """

    def __init__(self, sinks: torch.Tensor, fill: float = 0.0) -> None:
        if not isinstance(sinks, torch.Tensor) or sinks.dtype != torch.bool:
            raise TypeError("sinks must be a boolean tensor [H, W] or [layers, heads, H, W]: use trace.sinks().")
        if sinks.ndim not in (2, 4):
            raise ValueError(f"sinks must be [H, W] or [layers, heads, H, W], not {list(sinks.shape)}.")
        self.sinks = sinks if sinks.ndim == 4 else sinks[None, None]
        self.fill = float(fill)

    def __call__(self, saliency_map: SaliencyMap, /) -> SaliencyMap:
        values = saliency_map.tensor()
        mask = self.sinks
        if mask.shape[-2:] != values.shape[-2:]:
            raise ValueError(
                f"The sinks' grid {list(mask.shape[-2:])} is not the map's {list(values.shape[-2:])}: find them with "
                "the same image_index and view as the map (trace.sinks(image_index, view=...))."
            )
        for axis, name in ((0, "layers"), (1, "heads")):
            if mask.shape[axis] != values.shape[axis] and mask.shape[axis] != 1:
                if values.shape[axis] != 1:
                    raise ValueError(
                        f"The sinks cover {mask.shape[axis]} {name}, the map {values.shape[axis]}: find them on a "
                        "trace captured with the same layers and heads, or aggregate the map first."
                    )
                mask = mask.any(dim=axis, keepdim=True)
        return SaliencyMap(values.masked_fill(mask, self.fill))

    def __repr__(self) -> str:
        return f"MaskSinks({int(self.sinks.any(0).any(0).sum())} cells, fill={self.fill})"
