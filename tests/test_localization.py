"""Binarising localization maps: expected masks worked out by hand."""

import numpy as np
import pytest

from rlnet.localization import area_matched, binarise

#: A sharp map (sum 2.0) and a diffuse one (sum 1.2) of four voxels.
SHARP = np.array([[0.9, 0.2], [0.6, 0.3]])
DIFFUSE = np.array([[0.4, 0.1], [0.4, 0.3]])


def test_area_keeps_as_many_voxels_as_the_map_sums_to():
    assert area_matched(SHARP).tolist() == [[True, False], [True, False]]
    # sum 1.2 -> one voxel; the two 0.4s tie and the earlier one (C order) wins
    assert area_matched(DIFFUSE).tolist() == [[True, False], [False, False]]


def test_threshold_is_the_papers_half():
    masks = binarise(np.stack([SHARP, DIFFUSE]), "threshold")
    assert masks.dtype == np.uint8
    assert masks.tolist() == [[[1, 0], [1, 0]], [[0, 0], [0, 0]]]


def test_area_rule_on_a_batch_and_edge_sums():
    empty = np.full((2, 2), 0.1)  # sums to 0.4: no voxel
    full = np.ones((2, 2))
    masks = binarise(np.stack([SHARP, empty, full]), "area")
    assert masks.tolist() == [[[1, 0], [1, 0]], [[0, 0], [0, 0]], [[1, 1], [1, 1]]]


def test_a_3d_map_counts_voxels():
    prob = np.zeros((2, 3, 3))
    prob[1, 1, 1], prob[0, 2, 2], prob[1, 0, 0] = 0.95, 0.8, 0.3  # sums to 2.05 -> 2 voxels
    expected = np.zeros((2, 3, 3), dtype=bool)
    expected[1, 1, 1] = expected[0, 2, 2] = True
    assert (area_matched(prob) == expected).all()


def test_an_unknown_rule_is_named():
    with pytest.raises(ValueError, match="unknown localization rule 'top'"):
        binarise(SHARP[None], "top")
