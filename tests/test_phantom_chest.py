"""Tests of the synthetic chest slice phantom (pectoralis muscle and subcutaneous fat)."""

import numpy as np
import pytest
from scipy import stats

from rlnet.biomarkers import area_mm2
from rlnet.phantoms import PhantomCase
from rlnet.phantoms.chest import MASKS, PHANTOM_CODE, REFERENCE_HU, generate

SEED = 11
#: Paper candidate HU ranges (Sec. II-B) of each target.
CANDIDATE_HU = {"pectoralis": (-20.0, 100.0), "subcutaneous_fat": (-140.0, -70.0)}
#: Minimum mean fraction of the analyst's region kept by the reference's HU threshold at 96 x 96,
#: 3.6 mm, default noise (10-30 HU): partial volume of the thin bands and noise outliers drop out.
#: Measured on 100 cases: pectoralis 0.86, fat 0.69 (0.90 / 0.74 at the study's 5-15 HU).
MIN_KEPT = {"pectoralis": 0.8, "subcutaneous_fat": 0.6}
#: Minimum candidate-to-target area ratio in the image, every case.
MIN_IMAGE_RATIO = {"pectoralis": 1.5, "subcutaneous_fat": 0.7}
#: Minimum ratio of all tissue of the candidate class (sharp anatomy) to the target, every case.
TISSUE_KEY = {"pectoralis": "muscle_range_tissue_mm2", "subcutaneous_fat": "fat_range_tissue_mm2"}
MIN_TISSUE_RATIO = {"pectoralis": 2.0, "subcutaneous_fat": 1.15}


def _candidates(case: PhantomCase, name: str) -> np.ndarray:
    low, high = CANDIDATE_HU[name]
    return (case.image >= low) & (case.image <= high)


@pytest.fixture(scope="module")
def cases() -> list[PhantomCase]:
    """200 default cases (96 x 96, 3.6 mm), shared by the statistical tests."""
    return [generate(SEED, i) for i in range(200)]


def test_api(cases: list[PhantomCase]) -> None:
    case = cases[3]
    assert PHANTOM_CODE == 1
    assert case.image.dtype == np.int16 and case.image.shape == (96, 96)
    assert case.spacing == (3.6, 3.6)
    assert tuple(case.masks) == MASKS
    for mask in case.masks.values():
        assert mask.dtype == np.uint8 and mask.shape == (96, 96)
        assert set(np.unique(mask)) <= {0, 1}
    assert case.subject_id == "chest00003"


def test_area_is_pixel_count_times_pixel_area(cases: list[PhantomCase]) -> None:
    for case in cases[:5]:
        for mask in case.masks.values():
            assert area_mm2(mask, case.spacing) == pytest.approx(mask.sum() * 3.6 * 3.6)
            assert mask.sum() > 20


def test_deterministic() -> None:
    a, b = generate(SEED, 5), generate(SEED, 5)
    assert a.image.tobytes() == b.image.tobytes()
    for name in MASKS:
        assert a.masks[name].tobytes() == b.masks[name].tobytes()
    assert a.extras == b.extras
    for other in (generate(SEED + 1, 5), generate(SEED, 6)):
        assert other.image.tobytes() != a.image.tobytes()
        assert other.masks["pectoralis"].tobytes() != a.masks["pectoralis"].tobytes()


def test_hu_ranges(cases: list[PhantomCase]) -> None:
    for case in cases[:30]:
        image = case.image
        assert image.min() >= -1024 and image.max() <= 3071
        air = image[:3, :3] if case.extras["body_cropped"] == 0 else image[image < -900]
        assert abs(np.median(air) + 1000) < 20
        fat = image[case.masks["subcutaneous_fat"] > 0]
        muscle = image[case.masks["pectoralis"] > 0]
        assert -140 <= np.median(fat) <= -70
        assert -20 <= np.median(muscle) <= 100
        assert image.max() > 300  # bone


@pytest.mark.parametrize("name", MASKS)
def test_reference_is_the_region_thresholded(cases: list[PhantomCase], name: str) -> None:
    """Like a threshold-assisted segmentation: in the HU range, inside the analyst's region."""
    assert REFERENCE_HU[name] == CANDIDATE_HU[name]
    kept = []
    for case in cases[:100]:
        values = case.image[case.masks[name] > 0]
        assert values.min() >= CANDIDATE_HU[name][0] and values.max() <= CANDIDATE_HU[name][1]
        region = case.extras[f"{name}_region_mm2"]
        kept.append(area_mm2(case.masks[name], case.spacing) / region)
    print(f"{name}: reference / region {np.mean(kept):.3f} (min {np.min(kept):.3f})")
    assert max(kept) <= 1.0
    assert np.mean(kept) >= MIN_KEPT[name]


@pytest.mark.parametrize("name", MASKS)
def test_candidates_cover_target_with_distractors(cases: list[PhantomCase], name: str) -> None:
    image_ratio, tissue_ratio = [], []
    for case in cases[:50]:
        target = case.masks[name] > 0
        candidates = _candidates(case, name)
        assert not np.any(target & ~candidates)  # the paper's candidates hold the whole target
        assert np.count_nonzero(candidates & ~target) > 0.1 * np.count_nonzero(target)
        image_ratio.append(np.count_nonzero(candidates) / np.count_nonzero(target))
        tissue_ratio.append(case.extras[TISSUE_KEY[name]] / area_mm2(target, case.spacing))
    print(
        f"{name}: candidate/target {np.mean(image_ratio):.2f} "
        f"(min {np.min(image_ratio):.2f}), tissue/target min {np.min(tissue_ratio):.2f}"
    )
    assert np.min(image_ratio) >= MIN_IMAGE_RATIO[name]
    assert np.min(tissue_ratio) >= MIN_TISSUE_RATIO[name]


def test_areas_right_skewed_and_candidate_area_weak_predictor(cases: list[PhantomCase]) -> None:
    pma = np.array([area_mm2(c.masks["pectoralis"], c.spacing) for c in cases])
    sfa = np.array([area_mm2(c.masks["subcutaneous_fat"], c.spacing) for c in cases])
    muscle_candidates = np.array([_candidates(c, "pectoralis").sum() for c in cases])
    fat_candidates = np.array([_candidates(c, "subcutaneous_fat").sum() for c in cases])
    assert stats.skew(pma) > 0.3 and stats.skew(sfa) > 0.3
    assert 1500 < np.median(pma) < 5000 and 4000 < np.median(sfa) < 20000
    # A map spread evenly over the candidates must not be a good regressor: the network has
    # to find the target (deep fat varies largely independently of subcutaneous fat).
    r_pma = stats.pearsonr(muscle_candidates, pma)[0]
    r_sfa = stats.pearsonr(fat_candidates, sfa)[0]
    print(f"r(candidate area, target area): PMA {r_pma:.3f}, SFA {r_sfa:.3f}")
    assert r_pma < 0.75
    assert r_sfa < 0.85


@pytest.mark.parametrize(
    ("shape", "spacing"), [((64, 64), (5.4, 5.4)), ((128, 160), (2.7, 2.7)), ((96, 96), (3.6, 3.6))]
)
def test_shapes(shape: tuple[int, int], spacing: tuple[float, float]) -> None:
    case = generate(SEED, 2, shape, spacing)
    assert case.image.shape == shape and case.spacing == spacing
    for name in MASKS:
        assert case.masks[name].shape == shape and case.masks[name].any()


def test_region_area_independent_of_spacing() -> None:
    """The same anatomy (mm) rendered at 5.4, 3.6 and 1.8 mm pixels over one field of view.

    The analyst's region is spacing-independent; the thresholded reference is not (coarse pixels
    mix more tissue), but it never exceeds the region.
    """
    grids = [((64, 64), (5.4, 5.4)), ((96, 96), (3.6, 3.6)), ((192, 192), (1.8, 1.8))]
    for index in range(6):
        cases = [generate(SEED, index, s, p, noise_hu=(5.0, 5.0)) for s, p in grids]
        for name in MASKS:
            regions = [case.extras[f"{name}_region_mm2"] for case in cases]
            assert max(regions) / min(regions) < 1.15, (index, name, regions)
            for case, region in zip(cases, regions, strict=True):
                assert area_mm2(case.masks[name], case.spacing) <= region


def test_paper_scale() -> None:
    """512 x 512 at 0.7 mm: same anatomy as 96 x 96 at 3.6 mm up to the border crop (its speed
    is measured by benchmarks/bench_phantoms.py, not here)."""
    big = generate(SEED, 1, (512, 512), (0.7, 0.7))
    small = generate(SEED, 1)
    assert big.image.shape == (512, 512)
    key = "pectoralis_region_mm2"
    ratio = big.extras[key] / small.extras[key]
    assert 0.85 < ratio < 1.15
