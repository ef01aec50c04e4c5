"""Biomarkers against hand-computed values (Agatston 1990 as the paper's Sec. II-C uses it)."""

import numpy as np
import pytest

from rlnet.biomarkers import agatston, area_mm2, risk_group, volume_mm3


def volume(shape=(1, 10, 10)):
    return np.full(shape, -50, dtype=np.int16), np.zeros(shape, dtype=np.uint8)


def test_area_and_volume_are_count_times_pixel_size():
    mask = np.zeros((4, 5), np.uint8)
    mask[1:3, 1:4] = 1  # 6 pixels
    assert area_mm2(mask, (0.5, 0.8)) == pytest.approx(6 * 0.4)
    vol = np.zeros((3, 4, 5), np.uint8)
    vol[0, :2, :2] = 1  # 4 voxels
    assert volume_mm3(vol, (2.5, 0.5, 0.8)) == pytest.approx(4 * 2.5 * 0.4)


def test_area_rejects_spacing_of_wrong_length():
    with pytest.raises(ValueError, match="spacing"):
        area_mm2(np.ones((3, 3)), (1.0, 1.0, 1.0))


@pytest.mark.parametrize(
    ("peak", "weight"),
    [(129, 0), (130, 1), (199, 1), (200, 2), (299, 2), (300, 3), (399, 3), (400, 4), (1500, 4)],
)
def test_weight_boundaries(peak, weight):
    image, mask = volume()
    image[0, 2:4, 2:4] = peak  # 4 pixels of 1 mm^2 -> 4 mm^2 when above 130 HU
    mask[0, 1:6, 1:6] = 1
    # 3 mm slices: thickness factor 1.
    assert agatston(image, mask, (3.0, 1.0, 1.0)) == pytest.approx(4.0 * weight)


def test_weight_comes_from_per_slice_peak_not_3d_peak():
    image, mask = volume((2, 10, 10))
    image[0, 2:4, 2:4] = 150  # slice 0 peak 150 -> weight 1
    image[1, 2:4, 2:4] = 450  # slice 1 peak 450 -> weight 4
    mask[:] = 1
    assert agatston(image, mask, (3.0, 1.0, 1.0)) == pytest.approx(4 * 1 + 4 * 4)


def test_lesion_under_one_mm2_is_dropped():
    image, mask = volume()
    mask[:] = 1
    image[0, 2, 2] = 500  # 1 pixel of 0.9 x 0.9 = 0.81 mm^2 < 1 mm^2
    assert agatston(image, mask, (3.0, 0.9, 0.9)) == 0.0
    image[0, 2, 3] = 500  # 2 pixels: 1.62 mm^2 kept, weight 4
    assert agatston(image, mask, (3.0, 0.9, 0.9)) == pytest.approx(1.62 * 4)


def test_diagonal_contact_joins_lesions_with_8_connectivity_only():
    image, mask = volume()
    mask[:] = 1
    image[0, 2, 2] = 450  # pixel of 0.8 mm^2 each: alone each lesion is under 1 mm^2
    image[0, 3, 3] = 450
    spacing = (3.0, 0.8**0.5, 0.8**0.5)
    assert agatston(image, mask, spacing, connectivity=8) == pytest.approx(1.6 * 4)
    assert agatston(image, mask, spacing, connectivity=4) == 0.0


def test_thickness_factor_for_1_5_mm_slices():
    image, mask = volume((2, 10, 10))
    mask[:] = 1
    image[:, 2:4, 2:4] = 250  # 4 mm^2 per slice, weight 2, two slices
    assert agatston(image, mask, (1.5, 1.0, 1.0)) == pytest.approx((8 + 8) * 1.5 / 3.0)


def test_only_voxels_inside_the_mask_count():
    image, mask = volume()
    image[0, 2:4, 2:4] = 500
    image[0, 6:8, 6:8] = 500  # outside the mask
    mask[0, 1:5, 1:5] = 1
    assert agatston(image, mask, (3.0, 1.0, 1.0)) == pytest.approx(16.0)


def test_mask_cuts_lesion_and_peak_is_taken_inside_mask():
    image, mask = volume()
    image[0, 2, 2:6] = [150, 150, 150, 900]
    mask[0, 2, 2:5] = 1  # the 900 HU pixel is outside
    assert agatston(image, mask, (3.0, 1.0, 1.0)) == pytest.approx(3.0 * 1)


@pytest.mark.parametrize(
    ("score", "group"),
    [(0, 0), (9.99, 0), (10, 1), (99.9, 1), (100, 2), (399, 2), (400, 3), (999, 3), (1000, 4)],
)
def test_paper_risk_groups(score, group):
    assert risk_group(score) == group


@pytest.mark.parametrize(
    ("score", "group"), [(0, 0), (1, 1), (10, 1), (10.5, 2), (100, 2), (101, 3), (400, 3), (401, 4)]
)
def test_clinical_risk_groups(score, group):
    assert risk_group(score, scheme="clinical") == group


def test_risk_group_vectorised_and_rejects_negative():
    np.testing.assert_array_equal(risk_group(np.array([0, 10, 1000])), [0, 1, 4])
    with pytest.raises(ValueError):
        risk_group(-1)
