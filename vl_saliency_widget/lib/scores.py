"""Localization scores of a map against the cells of a target box: the pointing game and the energy share.

The toy model's scoreboard (``demo/evaluate.py``) and dataset runs (``vl_saliency_widget.runs``) score with these
same functions:

- **ranking**: the cells of a flat map from the largest value down, ties in a seeded random order, so a flat map
  that says nothing points at a random cell;
- **pointing**: 1 when the map's first-ranked cell is a target cell, else 0;
- **energy**: the share of the map's positive mass (negative values clamped to 0) in the target cells; a map with
  no positive value scores 0.
"""

from __future__ import annotations

import torch


def ranking(values: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """LongTensor [n]: the cells of a flat map [n] from the largest value down, ties in a random order."""
    shuffle = torch.randperm(values.numel(), generator=generator)
    return shuffle[torch.argsort(values[shuffle], descending=True, stable=True)]


def rankings(maps: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """LongTensor [maps, cells]: :func:`ranking` of each flat map of ``maps`` [maps, cells], in order."""
    return torch.stack([ranking(values, generator) for values in maps])


def pointing(orders: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """FloatTensor [maps]: 1 where the first-ranked cell of each order [maps, cells] (:func:`rankings`) is a cell of
    ``target`` (BoolTensor [cells]), else 0."""
    return target[orders[:, 0]].float()


def energy(maps: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """FloatTensor [maps]: the share of each flat map's positive mass (``maps`` [maps, cells], negatives clamped to
    0) that lies in ``target`` (BoolTensor [cells]); 0 for a map with no positive value."""
    positive = maps.clamp(min=0)
    mass = positive.sum(dim=1)
    return torch.where(mass > 0, positive[:, target].sum(dim=1) / mass.clamp(min=1e-30), 0.0)
