"""The maps the widget shows, for what its controls hold: any token's map, the last few kept, every token's preview."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..core.map import SaliencyMap
from ..core.method import Method
from ..core.trace import Trace
from ..selectors import AbsoluteIndex
from .previews import DetailCache, Previews

if TYPE_CHECKING:
    from ..core.reduce import Reduction


@dataclass(frozen=True)
class Controls:
    """What the widget's controls hold: the method, the pipeline, the image and how the aggregate reduces."""

    method: Method
    pipeline: Callable[[SaliencyMap], SaliencyMap] | None
    image_index: int
    layer_reduce: Reduction
    head_reduce: Reduction


class Maps:
    """The maps of ``trace`` for the controls ``controls()`` returns, read at every call: a token's map
    (``compute``), the last few kept (``detail``; ``forget`` drops them when the method, pipeline or image change)
    and every token's aggregated preview (``previews``)."""

    def __init__(self, trace: Trace, controls: Callable[[], Controls]) -> None:
        self.trace = trace
        self.controls = controls
        self.details = DetailCache()
        self.previews = Previews(trace.text_positions)

    def compute(self, position: int) -> SaliencyMap:
        """The [layers, heads, h, w] map of the token at ``position``: its method's map of the image, through the
        pipeline."""
        controls = self.controls()
        smap = self.trace.map(AbsoluteIndex(position), mode=controls.method, image_index=controls.image_index)
        return smap >> controls.pipeline if controls.pipeline is not None else smap

    def detail(self, position: int) -> SaliencyMap:
        """``compute(position)``, kept among the last few."""
        return self.details.get(position, self.compute)

    def forget(self) -> None:
        """Drop the kept maps: the method, pipeline or image changed."""
        self.details.clear()

    def aggregate(self, smap: SaliencyMap) -> np.ndarray:
        """float32 [h, w]: ``smap`` reduced over layers and heads as the controls say."""
        controls = self.controls()
        return smap.agg(controls.layer_reduce, controls.head_reduce).numpy()[0, 0].astype(np.float32)

    def shown(self, smap: SaliencyMap, heads: Sequence[Sequence[int]]) -> SaliencyMap:
        """``smap`` [layers, heads, h, w] as the view shows it, [1, 1, h, w]: the ``heads`` ([layer, head] pairs)
        averaged, or with none selected, the aggregate.

        Raises:
            IndexError: a pair lies outside the map.
        """
        if not heads:
            controls = self.controls()
            return smap.agg(controls.layer_reduce, controls.head_reduce)
        layers, count = smap.shape[:2]
        outside = [list(pair) for pair in heads if not (0 <= pair[0] < layers and 0 <= pair[1] < count)]
        if outside:
            raise IndexError(f"heads {outside} are outside this map's {layers} layers x {count} heads; fix w.heads.")
        values = smap.tensor()
        return SaliencyMap(torch.stack([values[layer, head] for layer, head in heads]).mean(0)[None, None])

    def refresh(self) -> None:
        """New previews: every token the method maps without a backward pass (``Trace.ready``, from the needs the
        method declares), a string mode's all at once without a pipeline (``gather``), the rest one by one. What
        was stored before an error stays stored."""
        self.previews.clear()
        method, pipeline = self.controls().method, self.controls().pipeline
        ready = [position for position in self.previews.row if self.trace.ready(method, position)]
        fast = self.gather(method) if pipeline is None and isinstance(method, str) else None
        self.previews.fill(ready, lambda position: self.aggregate(self.compute(position)), fast)

    def gather(self, mode: str) -> Callable[[Sequence[int]], np.ndarray]:
        """float32 [tokens, h, w]: the aggregates of a string mode's maps for many tokens at once, reduced before
        the gather where that commutes (``Trace.maps``)."""
        controls = self.controls()

        def stacked(positions: Sequence[int]) -> np.ndarray:
            maps = self.trace.maps(
                positions,
                mode,
                controls.image_index,
                layer_reduce=controls.layer_reduce,
                head_reduce=controls.head_reduce,
            )
            return maps[:, 0, 0].numpy()

        return stacked

    def keep(self, position: int, smap: SaliencyMap) -> dict[str, Any] | None:
        """Store ``smap``'s aggregate as the preview of ``position``; return the "preview" message that sends it, or
        None when the arrays are new and ``previews.state()`` must be published whole."""
        self.previews.store(position, self.aggregate(smap))
        return self.previews.update([position])
