"""The heart search on real chest CT (rlnet.heart_search).

The reference is the hearts annotated by eye (tests/data/real-ct/chest/hearts.json, montage
hearts.png), not anything the search computes. Each scan is also searched as a scanner or a
protocol would store it otherwise (tests/chest_variants.py): cropped to the heart's level, in
reverse order along each axis, at 2.5 and 1.25 mm slices, with contrast in the blood pool,
the patient off-centre, a field of view that cuts the body, and combinations. The bar: the
140 mm box at the found centre holds >= 95% of the annotated heart, with a confidence that
does not warn; points that are not the heart get a confidence that does.
"""

import chest_variants as cv
import heart_annotation as ha
import numpy as np
import pytest

from conftest import REAL_CT
from rlnet import io
from rlnet.heart_search import LOW_CONFIDENCE, find_heart, heart_evidence
from rlnet.phantoms import heart

#: Share of the annotated heart the 140 mm box must hold.
MIN_COVERAGE = 0.95

#: Points of the scans that are not the heart, placed by eye (voxels z, y, x).
NOT_HEART = {
    "lung2_image.nrrd": {
        "descending aorta": (24, 310, 302),
        "spine": (24, 350, 255),
        "right lung": (24, 220, 140),
        "left lung": (24, 250, 440),
        "liver dome": (12, 200, 190),
    },
    "lung1_image.nrrd": {
        "descending aorta": (6, 395, 318),
        "spine": (6, 410, 262),
        "right lung": (6, 320, 150),
        "left lung": (9, 320, 430),
        "liver dome": (0, 330, 165),
    },
}


@pytest.fixture(scope="module", params=ha.SCANS)
def scan(request) -> tuple[str, cv.Scan]:
    image, geometry = io.read_image(ha.CHEST / request.param)
    mask = ha.heart_mask(request.param, image.shape)
    return request.param, cv.Scan(image, geometry.spacing, geometry.direction, mask)


def test_the_annotation_is_a_heart_sized_region():
    """Sanity of the reference: each annotated heart is 300-1200 ml (adult hearts with the
    pericardium) and spans the slices hearts.json names."""
    for name in ha.SCANS:
        image, geometry = io.read_image(ha.CHEST / name)
        mask = ha.heart_mask(name, image.shape)
        ml = mask.sum() * np.prod(geometry.spacing) / 1000
        zs = np.flatnonzero(mask.any(axis=(1, 2)))
        assert 300 < ml < 1200, (name, ml)
        assert [zs[0], zs[-1]] == ha.annotation(name)["slices"]


def test_the_box_holds_the_heart_in_every_variant(scan):
    name, original = scan
    failures = []
    for label, variant in cv.scanner_variants(original, *ha.annotation(name)["slices"]).items():
        found = find_heart(variant.image, variant.spacing, variant.direction)
        coverage = cv.roi_coverage(variant.heart, found.centre, variant.spacing)
        print(f"{name} {label}: coverage {coverage:.3f} confidence {found.confidence}")
        if coverage < MIN_COVERAGE or found.confidence < LOW_CONFIDENCE:
            failures.append((label, round(coverage, 3), found))
    assert not failures


def test_the_centre_is_reported_in_the_stored_order(scan):
    """Reversing x moves the found centre to the mirrored index, nothing else."""
    name, original = scan
    straight = find_heart(original.image, original.spacing, original.direction)
    mirrored = cv.flip(original, 2)
    flipped = find_heart(mirrored.image, mirrored.spacing, mirrored.direction)
    nx = original.image.shape[2]
    assert flipped.centre[:2] == straight.centre[:2]
    assert abs(flipped.centre[2] - (nx - 1 - straight.centre[2])) <= 3  # a 3 mm block


def test_a_box_off_the_heart_is_doubtful(scan):
    """The confidence of a box at the aorta, the spine, a lung or the liver dome warns; at
    the annotated heart's centre it does not."""
    name, original = scan
    centre = tuple(int(c) for c in np.rint(ha.centre(name, original.image.shape)))
    points = [centre, *NOT_HEART[name].values()]
    at_heart, *elsewhere = heart_evidence(
        original.image, original.spacing, points, original.direction
    )
    assert at_heart.confidence >= LOW_CONFIDENCE, at_heart
    for label, found in zip(NOT_HEART[name], elsewhere, strict=True):
        assert found.confidence < LOW_CONFIDENCE and found.note, (label, found)


@pytest.mark.parametrize("name", ["example_ct_sm.nii.gz", "dicom-abdomen"])
def test_abdominal_scans_are_flagged(name):
    image, geometry = io.read_image(REAL_CT / name)
    found = find_heart(image, geometry.spacing, geometry.direction)
    assert found.confidence < LOW_CONFIDENCE and found.note


@pytest.mark.parametrize(
    "variant",
    [
        lambda s: cv.flip(s, 2),
        lambda s: cv.flip(s, 0),
        lambda s: cv.reslice(s, 1.5),
        lambda s: cv.shift(s, 0, 20),
    ],
    ids=["reversed x", "reversed z", "1.5 mm slices", "20 mm to the left"],
)
def test_phantom_hearts_in_scanner_variants(variant):
    """The phantom's own heart mask is the reference; 10 default-size phantoms per variant."""
    for i in range(10):
        case = heart.generate(3, i)
        stored = cv.Scan(
            case.image, case.spacing, tuple(np.eye(3).ravel()), case.masks["heart"] > 0
        )
        moved = variant(stored)
        found = find_heart(moved.image, moved.spacing, moved.direction)
        coverage = cv.roi_coverage(moved.heart, found.centre, moved.spacing)
        assert coverage >= 0.99 and found.confidence >= LOW_CONFIDENCE, (i, coverage, found)


def test_an_oblique_direction_is_refused():
    image = np.zeros((4, 4, 4), np.int16)
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    with pytest.raises(ValueError, match="axis-aligned"):
        find_heart(image, (1.0, 1.0, 1.0), (c, -s, 0, s, c, 0, 0, 0, 1))
