"""The phantoms' shared geometry (rlnet.phantoms.geometry): hand-computed positions and spans,
and a regression check that the phantoms are byte-identical to those made before it existed."""

import hashlib
import json

import numpy as np
import pytest

from rlnet.phantoms import PhantomCase, chest, heart, liver
from rlnet.phantoms.geometry import VoxelGrid, centred_positions, index_span

#: sha256 (first 16 hex digits, see ``digest``) of each generator's output, computed by the
#: code of commit c66cb23, before the phantoms shared a geometry module (numpy 2.4.6, scipy
#: 1.17.1, as the envs pin them). A regression check: any change of a phantom's bytes fails it.
BEFORE = {
    "chest 0 0": "cccf7b5a49ee2139",
    "chest 3 7": "e9d3bebb004cb4f0",
    "chest 11 2": "1994d941be8eb6bf",
    "chest-fine 0 0": "a6870ab348a9cd43",
    "chest-fine 3 7": "aa20f42151b1fda8",
    "chest-fine 11 2": "a53213ad5cc836d3",
    "heart 0 0": "0216dd016a39759e",
    "heart 3 7": "c256c4d2911b2901",
    "heart 11 2": "258219f953cecfe2",
    "heart-default 0 0": "646f4383e5e83288",
    "heart-default 3 7": "64d6f6a4b0aca27a",
    "heart-default 11 2": "c31387cdccd8cb5d",
    "liver 0 0": ["9caff0748db4299f", "fdefcb3c1e4653ce"],
    "liver 3 7": ["463177979d1315fc", "f45449b729f738ea"],
    "liver 11 2": ["e590f8ff9919fba5", "c29c5f47e9e9b9d8"],
    "liver-aniso 0 0": ["c99c9b63957d28d3", "4f174c1a974647d9"],
    "liver-aniso 3 7": ["b8cb51cc9df028dc", "f1cd2abca0aeb33d"],
    "liver-aniso 11 2": ["f6df324cc222a182", "ca2e7da81146f304"],
}


def digest(case: PhantomCase, labels: np.ndarray | None = None) -> str:
    """Hash of a case's image (bytes and dtype), masks, extras, spacing, subject (and labels)."""
    h = hashlib.sha256()
    h.update(case.image.tobytes())
    h.update(str(case.image.dtype).encode())
    for name in sorted(case.masks):
        h.update(name.encode())
        h.update(case.masks[name].tobytes())
    h.update(json.dumps(case.extras, sort_keys=True).encode())
    h.update(repr(case.spacing).encode())
    h.update(case.subject_id.encode())
    if labels is not None:
        h.update(labels.tobytes())
    return h.hexdigest()[:16]


def made_now(kind: str, seed: int, index: int) -> str | list[str]:
    if kind == "chest":
        return digest(chest.generate(seed, index))
    if kind == "chest-fine":  # pixels <= 1.2 mm: no sub-sampling
        return digest(chest.generate(seed, index, shape=(64, 72), spacing=(1.0, 1.1)))
    if kind == "heart":
        shape, spacing = (32, 48, 48), (3.0, 2.5, 2.5)
        return digest(*heart.generate_labelled(seed, index, shape=shape, spacing=spacing))
    if kind == "heart-default":
        return digest(heart.generate(seed, index))
    if kind == "liver":
        return [digest(c) for c in liver.generate_subject(seed, index, slices=(2, 3))]
    cases = liver.generate_subject(seed, index, (2, 2), shape=(64, 80), spacing=(2.5, 3.0))
    return [digest(c) for c in cases]


@pytest.mark.parametrize("key", sorted(BEFORE))
def test_phantoms_are_byte_identical_to_before_the_shared_geometry(key: str) -> None:
    kind, seed, index = key.split()
    assert made_now(kind, int(seed), int(index)) == BEFORE[key]


def test_centred_positions_by_hand() -> None:
    """4 samples 2 mm apart: -3, -1, 1, 3; 3 samples 1.5 apart: -1.5, 0, 1.5."""
    assert centred_positions(4, 2.0).tolist() == [-3.0, -1.0, 1.0, 3.0]
    assert centred_positions(3, 1.5).tolist() == [-1.5, 0.0, 1.5]


def test_index_span_covers_the_interval_and_is_clipped() -> None:
    """[2.3, 4.1] is covered by indices 2..5 (floor 2, ceil 5); pad 1 gives 1..6; an interval
    past either end is clipped to the row of 8; one wholly outside gives an empty slice."""
    assert index_span(2.3, 4.1, 8) == slice(2, 6)
    assert index_span(2.3, 4.1, 8, pad=1) == slice(1, 7)
    assert index_span(-3.5, 9.2, 8) == slice(0, 8)
    assert index_span(10.0, 12.0, 8) == slice(8, 8)


def test_voxel_grid_box_axes_and_index_by_hand() -> None:
    """Spacing (3, 2, 2) mm: the box [3, 5] x [1, 4] x [0, 0.5] mm is voxels z 1..2 (3/3 = 1,
    5/3 = 1.67 -> 2), y 0..2, x 0..1; voxel centres are index * spacing."""
    grid = VoxelGrid((4, 5, 6), np.array([3.0, 2.0, 2.0]))
    box = grid.box(np.array([3.0, 1.0, 0.0]), np.array([5.0, 4.0, 0.5]))
    assert box == (slice(1, 3), slice(0, 3), slice(0, 2))
    z, y, x = grid.axes(box)
    assert z.ravel().tolist() == [3.0, 6.0] and y.ravel().tolist() == [0.0, 2.0, 4.0]
    assert z.shape == (2, 1, 1) and x.shape == (1, 1, 2)
    points = np.array([[4.4, 2.9, 100.0], [-5.0, 3.1, 1.0]])
    assert grid.index(points).tolist() == [[1, 1, 5], [0, 2, 0]]
