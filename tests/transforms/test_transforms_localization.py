"""LocalizationHeads and its parts: component labelling, spatial entropy, elbow threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vl_saliency_widget import transforms as T
from vl_saliency_widget.core.map import SaliencyMap
from vl_saliency_widget.transforms.localization import elbow_threshold, label_components, spatial_entropy

# label_components


def test_label_components_joins_diagonals_and_numbers_in_raster_order() -> None:
    mask = np.array(
        [
            [1, 1, 0, 0, 1],
            [0, 0, 0, 1, 0],
            [0, 0, 0, 0, 0],
            [1, 0, 1, 0, 1],
            [0, 1, 0, 0, 1],
        ],
        dtype=bool,
    )
    expected = np.array(
        [
            [1, 1, 0, 0, 2],
            [0, 0, 0, 2, 0],
            [0, 0, 0, 0, 0],
            [3, 0, 3, 0, 4],
            [0, 3, 0, 0, 4],
        ]
    )
    labels, count = label_components(mask)
    assert count == 4
    np.testing.assert_array_equal(labels, expected)


def test_label_components_merges_branches_that_meet_later() -> None:
    mask = np.array([[1, 0, 1, 0, 1], [1, 0, 1, 0, 1], [1, 1, 1, 0, 1], [0, 0, 0, 1, 0]], dtype=bool)
    labels, count = label_components(mask)
    assert count == 1
    np.testing.assert_array_equal(labels, mask.astype(int))


def test_label_components_of_empty_and_full_masks() -> None:
    assert label_components(np.zeros((3, 4), dtype=bool))[1] == 0
    labels, count = label_components(np.ones((3, 4), dtype=bool))
    assert count == 1 and (labels == 1).all()


@pytest.mark.parametrize("density", [0.2, 0.45, 0.7])
def test_label_components_matches_scipy(density: float) -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(4)
    for _ in range(20):
        mask = rng.random((int(rng.integers(1, 20)), int(rng.integers(1, 20)))) < density
        expected, expected_count = ndimage.label(mask, structure=np.ones((3, 3)))
        labels, count = label_components(mask)
        assert count == expected_count
        np.testing.assert_array_equal(labels, expected)


# spatial_entropy and elbow_threshold


def blobs(*cells: list[tuple[int, int]], size: int = 6, value: float = 0.5, base: float = 0.0) -> np.ndarray:
    """A [size, size] map at ``base`` with ``value`` on the given cells."""
    out = np.full((size, size), base)
    for group in cells:
        for r, c in group:
            out[r, c] = value
    return out


def test_spatial_entropy_of_blob_shares() -> None:
    one = blobs([(1, 1), (1, 2), (2, 1), (2, 2)])
    two = blobs([(0, 0), (0, 1)], [(3, 4), (3, 5)])
    three = blobs([(0, 0), (0, 1)], [(2, 4)], [(4, 1)])  # shares 1/2, 1/4, 1/4
    assert spatial_entropy(one) == 0.0
    assert spatial_entropy(two) == pytest.approx(math.log(2))
    assert spatial_entropy(three) == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))


def test_spatial_entropy_is_infinite_without_standout_mass() -> None:
    assert spatial_entropy(np.full((4, 4), 0.3)) == math.inf
    assert spatial_entropy(np.zeros((4, 4))) == math.inf
    tiny = np.zeros((4, 4))
    tiny[0, 0] = 0.0005  # stands out, but below the component threshold
    assert spatial_entropy(tiny) == math.inf


def test_elbow_threshold_is_the_value_furthest_below_the_chord() -> None:
    # Chord from (0, 1) to (3, 10) is y = 1 + 3x; deviations at x=1: 2, at x=2: 4.
    assert elbow_threshold([10.0, 1.0, 3.0, 2.0]) == 3.0
    assert elbow_threshold([1.0, 2.0, 3.0, 4.0]) == 1.0  # a straight line has no elbow
    assert elbow_threshold([5.0, 1.0]) == 1.0
    assert elbow_threshold([4.0]) == 4.0


# LocalizationHeads

BLOB = [(1, 1), (1, 2), (2, 1), (2, 2)]
TWO_BLOBS = ([(0, 0), (0, 1)], [(3, 4), (3, 5)])
THREE_BLOBS = ([(0, 0), (0, 1)], [(2, 4)], [(4, 1)])


def heads_map(
    heads: dict[tuple[int, int], np.ndarray], layers: int, num_heads: int, base: float = 0.001
) -> SaliencyMap:
    t = torch.full((layers, num_heads, 6, 6), base, dtype=torch.float64)
    for (layer, head), values in heads.items():
        t[layer, head] = torch.from_numpy(np.maximum(values, base))
    return SaliencyMap(t)


@pytest.fixture
def attention() -> SaliencyMap:
    last_row = blobs(BLOB)
    last_row[5, 3] = 0.1
    return heads_map(
        {
            (2, 1): blobs(BLOB),  # compact, entropy 0: the best
            (3, 0): blobs(*TWO_BLOBS),  # entropy log 2
            (2, 0): blobs(*THREE_BLOBS),  # entropy 1.04
            (0, 0): blobs(BLOB),  # compact but in layer 0
            (1, 1): blobs(*TWO_BLOBS),  # layer 1
            (3, 1): last_row,  # compact but touches the bottom row
        },
        layers=4,
        num_heads=2,
    )


def test_localization_heads_ranks_by_entropy_and_skips_early_layers_and_bottom_row(attention: SaliencyMap) -> None:
    transform = T.LocalizationHeads()
    assert transform.rank(attention) == [(2, 1), (3, 0), (2, 0)]
    result = attention >> transform
    assert result.shape == (1, 3, 6, 6)
    assert torch.equal(result.map[0], attention.map[[2, 3, 2], [1, 0, 0]])  # exact: kept heads are indexed


def test_localization_heads_max_keep_cuts_the_ranking(attention: SaliencyMap) -> None:
    result = attention >> T.LocalizationHeads(max_keep=1)
    assert torch.equal(result.map, attention.map[2, 1][None, None])  # exact: kept heads are indexed


def test_chord_threshold_leaves_out_low_attention_heads() -> None:
    faint = blobs(BLOB, value=0.05, base=0.0)  # compact, but a sum of 0.2 against 2.0 for the others
    heads = {(layer, head): blobs(*TWO_BLOBS, base=0.0) for layer in range(4) for head in range(3)}
    heads[(2, 0)] = faint
    m = heads_map(heads, layers=4, num_heads=3, base=0.0)
    assert T.LocalizationHeads().rank(m)[0] == (2, 1)
    assert T.LocalizationHeads(chord_thresholding=False).rank(m)[0] == (2, 0)


def test_fallback_fills_min_keep_with_the_heads_of_most_attention() -> None:
    m = heads_map({(0, 0): blobs(BLOB), (1, 1): blobs(BLOB, value=0.8)}, layers=3, num_heads=2)
    assert T.LocalizationHeads(min_keep=2).rank(m) == [(1, 1), (0, 0)]
    assert T.LocalizationHeads(min_keep=0).rank(m) == []
    with pytest.raises(ValueError, match=r"No localization head.*\[3, 2, 6, 6\]"):
        m >> T.LocalizationHeads(min_keep=0)


def test_no_head_at_all_is_a_value_error() -> None:
    m = SaliencyMap(torch.zeros(3, 2, 6, 6).index_fill_(2, torch.tensor([5]), 1.0))  # all attend the bottom row
    with pytest.raises(ValueError, match="bottom image row"):
        m >> T.LocalizationHeads()


def test_keep_bounds_are_validated() -> None:
    with pytest.raises(ValueError, match="min_keep"):
        T.LocalizationHeads(min_keep=-1)
    with pytest.raises(ValueError, match="max_keep"):
        T.LocalizationHeads(min_keep=3, max_keep=2)
