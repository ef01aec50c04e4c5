"""Tests of heart localisation and fixed-size crops (rlnet.roi)."""

import itertools

import numpy as np
import pytest

from conftest import REAL_CT
from rlnet import io
from rlnet.heart_search import LOW_CONFIDENCE, find_heart
from rlnet.phantoms import heart
from rlnet.roi import crop, paste

#: Localisation error bounds (mm) against the phantom's true heart centre.
MEAN_ERROR_MM, MAX_ERROR_MM = 6.0, 15.0


def _errors_mm(shape, spacing, n, seed=1):
    errors, inside = [], []
    for i in range(n):
        case = heart.generate(seed, i, shape=shape, spacing=spacing)
        search = find_heart(case.image, case.spacing)
        assert search.confidence >= LOW_CONFIDENCE, (i, search)  # a chest: never doubtful
        found = np.array(search.centre)
        true = np.array([case.extras[f"heart_center_{axis}"] for axis in "zyx"])
        errors.append(np.linalg.norm((found - true) * np.asarray(spacing)))
        inside.append(case.masks["heart"][tuple(found)] == 1)
    return np.array(errors), np.array(inside)


@pytest.mark.parametrize(
    ("shape", "spacing"), [((48, 80, 80), (3.0, 2.0, 2.0)), ((32, 64, 64), (3.0, 2.5, 2.5))]
)
def test_locate_heart_error(shape, spacing):
    errors, inside = _errors_mm(shape, spacing, 30)
    print(f"locate_heart {shape}: mean {errors.mean():.2f} mm, max {errors.max():.2f} mm")
    assert errors.mean() < MEAN_ERROR_MM and errors.max() < MAX_ERROR_MM
    assert inside.all(), "located centre outside the heart (fooled by spine or aorta?)"


def test_locate_heart_paper_scale():
    errors, inside = _errors_mm((120, 256, 256), (2.5, 0.7, 0.7), 1)
    assert errors.max() < MAX_ERROR_MM and inside.all()


def test_a_volume_without_lungs_has_no_confidence():
    found = find_heart(np.full((20, 30, 30), 40, dtype=np.int16), (3.0, 2.0, 2.0))
    assert found.confidence == 0.0 and "no lungs" in found.note


def test_an_abdominal_ct_without_heart_is_doubtful():
    """Real CT of the upper abdomen (TotalSegmentator's example: lung bases in the top slices,
    no heart label): the search's confidence stays below the warning level."""
    image, geometry = io.read_image(REAL_CT / "example_ct_sm.nii.gz")
    seg, _ = io.read_image(REAL_CT / "example_seg.nii.gz", kind="mask")
    assert not (seg == 51).any()  # TotalSegmentator v2's heart label: none in this scan
    search = find_heart(image, geometry.spacing)
    assert search.confidence < LOW_CONFIDENCE and "lungs fill" in search.note


def test_a_scan_without_thoracic_slices_has_no_confidence():
    image, geometry = io.read_image(REAL_CT / "dicom-abdomen")
    search = find_heart(image, geometry.spacing)
    assert search.confidence == 0.0 and "not a chest CT" in search.note


def test_crop_inside_matches_slicing():
    a = np.arange(10 * 12 * 14).reshape(10, 12, 14)
    out, origin = crop(a, (5, 6, 7), (4, 5, 6), fill=-1)
    assert origin == (3, 4, 4)
    np.testing.assert_array_equal(out, a[3:7, 4:9, 4:10])
    assert out.dtype == a.dtype


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_crop_pads_every_border(ndim):
    shape = (9, 10, 11)[:ndim]
    a = np.arange(1, np.prod(shape) + 1).reshape(shape)
    size = (6,) * ndim
    for axis, side in itertools.product(range(ndim), (0, 1)):
        center = [n // 2 for n in shape]
        center[axis] = 0 if side == 0 else shape[axis] - 1
        out, origin = crop(a, center, size, fill=-5)
        index = [slice(None)] * ndim
        index[axis] = slice(0, 3) if side == 0 else slice(4, 6)
        assert np.all(out[tuple(index)] == -5)
        index[axis] = slice(3, 6) if side == 0 else slice(0, 4)
        assert np.all(out[tuple(index)] > 0)
        assert origin[axis] == (-3 if side == 0 else shape[axis] - 4)


def test_crop_entirely_outside_is_fill():
    a = np.ones((5, 5, 5), dtype=np.int16)
    for center in [(-20, 2, 2), (2, 30, 2), (2, 2, 100)]:
        out, origin = crop(a, center, (3, 3, 3), fill=-1000)
        assert np.all(out == -1000) and out.dtype == np.int16
        assert np.all(paste(out, origin, a.shape, fill=7) == 7)


def test_crop_paste_round_trip():
    rng = np.random.default_rng(0)
    a = rng.integers(1, 100, size=(12, 15, 17)).astype(np.float32)
    for _ in range(50):
        center = rng.integers(-4, 20, 3)
        size = rng.integers(1, 14, 3)
        out, origin = crop(a, center, size, fill=0)
        back = paste(out, origin, a.shape, fill=0)
        window = tuple(
            slice(max(o, 0), max(min(o + s, n), 0))
            for o, s, n in zip(origin, size, a.shape, strict=True)
        )
        expected = np.zeros_like(a)
        expected[window] = a[window]
        np.testing.assert_array_equal(back, expected)
        again, _ = crop(back, center, size, fill=0)
        np.testing.assert_array_equal(again, out)


def test_crop_validates_arguments():
    with pytest.raises(ValueError):
        crop(np.zeros((4, 4)), (1, 1, 1), (2, 2), fill=0)
    with pytest.raises(ValueError):
        crop(np.zeros((4, 4)), (1, 1), (0, 2), fill=0)
    with pytest.raises(ValueError):
        paste(np.zeros((2, 2)), (0, 0, 0), (4, 4))
