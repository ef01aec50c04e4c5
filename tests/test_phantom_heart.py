"""Tests of the synthetic thoracic CT with coronary calcium (rlnet.phantoms.heart)."""

import numpy as np
import pytest
from scipy import ndimage

from rlnet.biomarkers import agatston, risk_group, volume_mm3
from rlnet.phantoms import heart

PROBS = (0.41, 0.23, 0.21, 0.105, 0.045)
#: Risk-group proportions over N_PROPORTION cases must be within this many points of PROBS.
PROPORTION_TOLERANCE = 0.05
N_PROPORTION = 400
DISTRACTOR_CODES = [heart.LABELS[name] for name in heart.DISTRACTOR_LABELS]


@pytest.fixture(scope="module")
def labelled():
    """30 default-size cases with their structure label maps."""
    return [heart.generate_labelled(11, i) for i in range(30)]


@pytest.fixture(scope="module")
def many():
    """(target group, reference score) of N_PROPORTION default-size cases (their generation
    speed is measured by benchmarks/bench_phantoms.py)."""
    rows = []
    for i in range(N_PROPORTION):
        case = heart.generate(0, i)
        score = agatston(case.image, case.masks["cac"], case.spacing)
        rows.append((case.extras["target_group"], score))
    return np.array(rows)


def test_deterministic_per_seed_and_index():
    a, b = heart.generate(3, 7), heart.generate(3, 7)
    assert a.image.tobytes() == b.image.tobytes()
    for name in heart.MASKS:
        assert a.masks[name].tobytes() == b.masks[name].tobytes()
    assert a.extras == b.extras
    assert heart.generate(3, 8).image.tobytes() != a.image.tobytes()
    assert heart.generate(4, 7).image.tobytes() != a.image.tobytes()


def test_types_shapes_and_extras():
    case = heart.generate(0, 12, shape=(40, 72, 64), spacing=(2.5, 2.2, 2.4))
    assert case.image.shape == (40, 72, 64) and case.image.dtype == np.int16
    assert case.spacing == (2.5, 2.2, 2.4)
    assert set(case.masks) == set(heart.MASKS)
    for mask in case.masks.values():
        assert mask.shape == case.image.shape and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}
    assert case.subject_id == "heart00012"
    centre = [case.extras[f"heart_center_{axis}"] for axis in "zyx"]
    assert all(0 <= c < n for c, n in zip(centre, case.image.shape, strict=True))
    assert case.masks["heart"][tuple(np.rint(centre).astype(int))] == 1
    assert case.extras["target_group"] in {0.0, 1.0, 2.0, 3.0, 4.0}


def test_rejects_bad_probabilities():
    with pytest.raises(ValueError, match="risk_group_probs"):
        heart.generate(0, 0, risk_group_probs=(0.5, 0.5))


def test_hu_plausible(labelled):
    for case, labels in labelled:
        assert case.image.min() >= -1024 and case.image.max() <= 3071
        lung = case.image[labels == heart.LABELS["lung"]]
        assert -900 < np.median(lung) < -800
        blood = case.image[labels == heart.LABELS["blood"]]
        assert 20 < np.median(blood) < 60
        myocardium = case.image[labels == heart.LABELS["myocardium"]]
        assert np.median(myocardium) > np.median(blood)
        assert np.median(case.image[labels == heart.LABELS["cortical_bone"]]) > 300


def test_cac_on_coronaries_inside_heart_never_on_distractors(labelled):
    spacing = labelled[0][0].spacing
    for case, labels in labelled:
        cac = case.masks["cac"].astype(bool)
        assert not np.any(cac & ~case.masks["heart"].astype(bool))
        assert np.all(labels[cac] == heart.LABELS["plaque"])
        clearance = ndimage.distance_transform_edt(
            ~np.isin(labels, DISTRACTOR_CODES), sampling=spacing
        )
        assert np.all(clearance[cac] >= 3.0)
        near_vessel = ndimage.binary_dilation(labels == heart.LABELS["coronary"], iterations=2)
        plaques, _ = ndimage.label(labels == heart.LABELS["plaque"])
        for k in np.unique(plaques[cac]):
            assert np.any(near_vessel[plaques == k]), "a calcium lesion is off the coronaries"


@pytest.mark.parametrize("low", [130, -500])
def test_candidates_hold_cac_and_distractors(labelled, low):
    """HU candidates [low, 3000] contain all reference calcium plus aorta/bone distractors."""
    more_distractor = 0
    for case, labels in labelled:
        cac = case.masks["cac"].astype(bool)
        candidates = (case.image >= low) & (case.image <= 3000)
        assert np.all(candidates[cac])
        distractor = candidates & np.isin(labels, DISTRACTOR_CODES)
        assert np.count_nonzero(candidates) > np.count_nonzero(cac)
        assert np.count_nonzero(distractor & (case.image >= 130)) > 0
        assert np.count_nonzero(case.image[labels == heart.LABELS["aortic_calcium"]] >= 130) > 0
        more_distractor += np.count_nonzero(distractor) >= np.count_nonzero(cac)
    assert more_distractor >= 0.9 * len(labelled)


def test_volume_is_voxel_count_times_voxel_volume(labelled):
    for case, _ in labelled:
        expected = np.count_nonzero(case.masks["cac"]) * np.prod(case.spacing)
        assert volume_mm3(case.masks["cac"], case.spacing) == pytest.approx(expected)


def test_reference_score_in_target_group(many):
    groups = risk_group(many[:, 1])
    np.testing.assert_array_equal(groups, many[:, 0].astype(int))


def test_risk_group_proportions_within_tolerance(many):
    proportions = np.bincount(many[:, 0].astype(int), minlength=5) / len(many)
    assert np.all(np.abs(proportions - np.asarray(PROBS)) <= PROPORTION_TOLERANCE), proportions


def test_scores_skewed_to_zero(many):
    scores = many[:, 1]
    assert np.mean(scores == 0) > 0.2
    assert np.median(scores) < np.mean(scores)


def test_paper_scale_runs():
    case = heart.generate(0, 2, shape=(120, 256, 256), spacing=(2.5, 0.7, 0.7))
    score = agatston(case.image, case.masks["cac"], case.spacing)
    assert risk_group(score) == case.extras["target_group"]
