"""Synthetic liver-tumour slices: masks, value, determinism, HU, subjects and distributions."""

import numpy as np
import pytest
from scipy import stats

from rlnet.biomarkers import area_mm2
from rlnet.phantoms.liver import MASKS, PHANTOM_CODE, generate_subject

SPACING = (3.6, 3.6)


@pytest.fixture(scope="module")
def subjects():
    """60 synthetic patients at the default 96 x 96 size."""
    return [generate_subject(0, i) for i in range(60)]


def _masks(case):
    return case.masks["liver"].astype(bool), case.masks["tumour"].astype(bool)


def test_constants():
    assert PHANTOM_CODE == 4
    assert MASKS == ("liver", "tumour")


def test_case_layout_and_value_is_pixel_count_times_pixel_area(subjects):
    for case in subjects[0]:
        assert case.image.dtype == np.int16 and case.image.shape == (96, 96)
        assert case.spacing == SPACING
        assert set(case.masks) == set(MASKS)
        for mask in case.masks.values():
            assert mask.dtype == np.uint8 and mask.shape == (96, 96)
            assert set(np.unique(mask)) <= {0, 1}
        n = int(case.masks["tumour"].sum())
        assert area_mm2(case.masks["tumour"], case.spacing) == pytest.approx(n * 3.6 * 3.6)


def test_deterministic_per_seed_and_subject():
    a, b = generate_subject(3, 7), generate_subject(3, 7)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.image.tobytes() == y.image.tobytes()
        for name in MASKS:
            assert x.masks[name].tobytes() == y.masks[name].tobytes()
    for other in (generate_subject(4, 7), generate_subject(3, 8)):
        assert other[0].image.tobytes() != a[0].image.tobytes()


def test_every_slice_has_tumour_inside_a_larger_liver(subjects):
    for cases in subjects:
        for case in cases:
            liver, tumour = _masks(case)
            assert tumour.any()
            assert not np.any(tumour & ~liver)
            assert liver.sum() > tumour.sum()


def test_slices_of_a_subject_share_id_and_count_lies_in_range(subjects):
    for i, cases in enumerate(subjects):
        assert 3 <= len(cases) <= 8
        assert {c.subject_id for c in cases} == {f"liver{i:04d}"}
        assert [c.extras["slice_index"] for c in cases] == list(range(len(cases)))
    counts = [len(c) for c in subjects]
    assert min(counts) < max(counts)
    assert len(generate_subject(1, 2, slices=(4, 4))) == 4


def test_consecutive_slices_are_cuts_of_one_anatomy(subjects):
    """Liver masks of neighbouring slices overlap far more than those of different subjects."""

    def dice(a, b):
        return 2 * np.sum(a & b) / (a.sum() + b.sum())

    within = [
        dice(_masks(c[k])[0], _masks(c[k + 1])[0]) for c in subjects for k in range(len(c) - 1)
    ]
    across = [dice(_masks(subjects[i][0])[0], _masks(subjects[i + 1][0])[0]) for i in range(59)]
    assert np.mean(within) > 0.9
    assert np.mean(within) > np.mean(across) + 0.1
    assert all(np.diff([c.extras["z_mm"] for c in cases]).min() > 0 for cases in subjects)


def test_hounsfield_units_are_plausible(subjects):
    """Liver near 60 HU; tumours darker by >= 10 HU wherever enough pixels beat the noise."""
    liver_all, tumour_all = [], []
    for cases in subjects:
        images = np.stack([c.image for c in cases])
        assert images.min() >= -1024 and images.max() <= 3071
        assert images.min() < -900  # air around the body
        liver_only = np.concatenate([c.image[_masks(c)[0] & ~_masks(c)[1]] for c in cases])
        tumour = np.concatenate([c.image[_masks(c)[1]] for c in cases])
        assert 40 <= liver_only.mean() <= 90
        if tumour.size >= 100:  # noise (sd <= 25 HU) of the mean below 2.5 HU
            assert tumour.mean() <= liver_only.mean() - 10
        liver_all.append(liver_only)
        tumour_all.append(tumour)
    assert np.concatenate(tumour_all).mean() <= np.concatenate(liver_all).mean() - 30


def test_tumour_area_is_right_skewed(subjects):
    areas = np.array([area_mm2(c.masks["tumour"], c.spacing) for s in subjects for c in s])
    assert stats.skew(areas) > 0.5
    assert np.mean(areas) > np.median(areas)
    assert np.mean(areas < np.mean(areas)) > 0.5  # many small, few large


@pytest.mark.parametrize("shape", [(64, 64), (96, 96), (128, 160)])
def test_other_image_shapes(shape):
    for i in range(3):
        for case in generate_subject(2, i, slices=(2, 3), shape=shape, spacing=(2.5, 3.0)):
            assert case.image.shape == shape and case.spacing == (2.5, 3.0)
            liver, tumour = _masks(case)
            assert tumour.any() and not np.any(tumour & ~liver) and liver.sum() > tumour.sum()
