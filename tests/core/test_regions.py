"""core.regions: a region given as a cell, a box in pixels or a boolean mask, as the cells of a map's grid."""

from __future__ import annotations

import pytest
import torch

from tests.traces import COLS, ROWS
from vl_saliency_widget.core.regions import region_mask


def test_regions_cover_the_cells_they_name() -> None:
    cell = region_mask((1, 2), (ROWS, COLS), (60, 40))
    assert torch.nonzero(cell).tolist() == [[1, 2]]
    box = region_mask((12.0, 0.0, 28.0, 10.0), (ROWS, COLS), (60, 40))  # cells are 10 x 10 pixels
    assert torch.nonzero(box).tolist() == [[0, 1], [0, 2]]
    mask = torch.zeros(ROWS, COLS, dtype=torch.bool)
    mask[3, 5] = True
    assert torch.equal(region_mask(mask, (ROWS, COLS), (60, 40)), mask)
    with pytest.raises(ValueError, match=r"outside the map's grid of 4 x 6"):
        region_mask((4, 0), (ROWS, COLS), (60, 40))
    with pytest.raises(ValueError, match="is empty"):
        region_mask((10, 10, 5, 20), (ROWS, COLS), (60, 40))
    with pytest.raises(ValueError, match="covers no cell"):
        region_mask((100, 100, 120, 120), (ROWS, COLS), (60, 40))
    with pytest.raises(ValueError, match="boolean tensor of the map's grid 4 x 6"):
        region_mask(torch.ones(2, 2, dtype=torch.bool), (ROWS, COLS), (60, 40))
    with pytest.raises(TypeError, match="region must be a cell"):
        region_mask("top left", (ROWS, COLS), (60, 40))  # type: ignore[arg-type]
