"""Methods that run the model again on changed pictures: what the answer relies on, not where it looked.

``trace.map(t, lib.occlusion)`` and ``trace.map(t, lib.rise)`` give [1, 1, H, W] over the whole-picture grid of
the image. The passes score every answer token at once and are kept with the trace (and saved with it), so the
first map of a method costs its passes and every other token's map is free.
"""

from __future__ import annotations

import torch

from ..core.map import SaliencyMap
from ..core.method import MethodInputs, Needs, TraceMethod
from ..core.perturb import BASELINES, Perturber, RiseMasks, cell_masks, cell_means


class _Perturbation(TraceMethod):
    """Shared by the perturbation methods: the settings, the table's name and the map read from it."""

    needs = Needs(model=True)

    def __init__(self, baseline: str, batch_size: int) -> None:
        if baseline not in BASELINES:
            raise ValueError(f"Unknown baseline {baseline!r}: choose one of {list(BASELINES)}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}.")
        self.baseline = baseline
        self.batch_size = batch_size

    @property
    def table_name(self) -> str:
        """The method and the settings that change its maps (the batch size does not)."""
        raise NotImplementedError

    def table(self, perturber: Perturber, image: int, grid: tuple[int, int], positions: torch.Tensor) -> torch.Tensor:
        """[len(positions), rows, cols]: the map of each scored token."""
        raise NotImplementedError

    def compute(self, inputs: MethodInputs) -> SaliencyMap:
        values = inputs.perturbation.table(self.table_name, self.table)[inputs.position]
        if torch.isnan(values).all():
            raise ValueError(
                f"{self.name} scores the answer's tokens: position {inputs.position} is not one of them (a prompt "
                "token, scored only when the capture had no answer)."
            )
        return SaliencyMap(values[None, None])


class Occlusion(_Perturbation):
    """Occlusion: hide one cell of the whole-picture grid at a time and score it by how much the token's
    log-probability drops, log p(token | picture) - log p(token | cell hidden).

    Args:
        baseline: what fills the hidden cell: "blur" (a blurred copy of the picture), "mean" (its mean colour) or
            "noise".
        batch_size: changed pictures per forward pass; the cost is cells / batch_size passes plus one.
    """

    name = "occlusion"

    def __init__(self, baseline: str = "blur", batch_size: int = 8) -> None:
        super().__init__(baseline, batch_size)

    @property
    def table_name(self) -> str:
        return f"occlusion baseline={self.baseline}"

    def table(self, perturber: Perturber, image: int, grid: tuple[int, int], positions: torch.Tensor) -> torch.Tensor:
        rows, cols = grid
        masks = cell_masks(rows, cols, perturber.pictures[image].size)
        base = perturber.log_probs([perturber.pictures], positions)[0]
        hidden = perturber.scores(
            image, lambda a, b: masks[a:b], rows * cols, self.baseline, positions, self.batch_size, "occlusion"
        )
        return (base[None] - hidden).T.reshape(len(positions), rows, cols)

    def __repr__(self) -> str:
        return f"Occlusion(baseline={self.baseline!r}, batch_size={self.batch_size})"


class Rise(_Perturbation):
    """RISE (arXiv 1806.07421): the token's probability under many random smooth masks, averaged per cell with the
    masks as weights, ``sum_i p_i m_i(cell) / (n_masks * keep)``: high where keeping the cell keeps the token likely.

    Args:
        n_masks: how many random masks (passes: n_masks / batch_size).
        grid: the masks' cells per side before upsampling.
        keep: the probability that a mask keeps a cell.
        seed: the masks' random seed (the same seed gives the same masks and maps).
        baseline: what fills the masked parts ("blur", "mean", "noise").
        batch_size: masked pictures per forward pass.
    """

    name = "rise"

    def __init__(
        self,
        n_masks: int = 256,
        grid: int = 7,
        keep: float = 0.5,
        seed: int = 0,
        baseline: str = "blur",
        batch_size: int = 8,
    ) -> None:
        super().__init__(baseline, batch_size)
        if n_masks < 1 or grid < 1 or not 0 < keep < 1:
            raise ValueError(f"RISE needs n_masks >= 1, grid >= 1 and 0 < keep < 1, not {n_masks}, {grid}, {keep}.")
        self.n_masks, self.grid, self.keep, self.seed = n_masks, grid, keep, seed

    @property
    def table_name(self) -> str:
        return (
            f"rise n_masks={self.n_masks} grid={self.grid} keep={self.keep} seed={self.seed} baseline={self.baseline}"
        )

    def table(self, perturber: Perturber, image: int, grid: tuple[int, int], positions: torch.Tensor) -> torch.Tensor:
        rows, cols = grid
        masks = RiseMasks(self.n_masks, perturber.pictures[image].size, self.grid, self.keep, self.seed)
        probs = perturber.scores(
            image, masks.masks, self.n_masks, self.baseline, positions, self.batch_size, "RISE"
        ).exp()
        weights = torch.cat(
            [
                cell_means(masks.masks(a, min(a + self.batch_size, self.n_masks)), rows, cols)
                for a in range(0, self.n_masks, self.batch_size)
            ]
        )
        return torch.einsum("np,nrc->prc", probs, weights) / (self.n_masks * self.keep)

    def __repr__(self) -> str:
        return (
            f"Rise(n_masks={self.n_masks}, grid={self.grid}, keep={self.keep}, seed={self.seed}, "
            f"baseline={self.baseline!r}, batch_size={self.batch_size})"
        )


occlusion = Occlusion()
"""Occlusion with a blurred baseline, 8 pictures per pass."""

rise = Rise()
"""RISE with 256 masks of 7 x 7 cells, half kept, seed 0."""
