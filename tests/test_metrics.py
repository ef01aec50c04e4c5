"""Tests of rlnet.metrics against hand-computed and published values."""

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from rlnet import metrics

# Shrout & Fleiss (1979), Psychol. Bull. 86:420, Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
)


# --- pearson ----------------------------------------------------------------------------------


def test_pearson_hand_computed_ci() -> None:
    """x = 1..5, y = (2, 1, 4, 3, 5): Sxy = 8, Sxx = Syy = 10, so r = 0.8.

    atanh(0.8) = 1.0986123; half-width 1.959964 / sqrt(2) = 1.3859038;
    CI = tanh(-0.2872915), tanh(2.4845161) = (-0.2796400, 0.9861962).
    """
    r, lo, hi = metrics.pearson([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    assert r == pytest.approx(0.8)
    assert lo == pytest.approx(-0.2796400, abs=1e-6)
    assert hi == pytest.approx(0.9861962, abs=1e-6)


def test_pearson_r_documentation_example() -> None:
    """R's ?cor.test example (Hollander & Wolfe 1973, p. 187), whose output reads
    cor 0.5711816, 95 percent confidence interval -0.1497426 0.8955795."""
    x = [44.4, 45.9, 41.9, 53.3, 44.7, 44.1, 50.7, 45.2, 60.1]
    y = [2.6, 3.1, 2.5, 5.0, 3.6, 4.0, 5.2, 2.8, 3.8]
    assert metrics.pearson(x, y) == pytest.approx((0.5711816, -0.1497426, 0.8955795), abs=1e-7)


def test_pearson_perfect_correlation_has_degenerate_ci() -> None:
    assert metrics.pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx((1.0, 1.0, 1.0))
    assert metrics.pearson([1, 2, 3, 4], [8, 6, 4, 2]) == pytest.approx((-1.0, -1.0, -1.0))


def test_pearson_of_three_pairs_has_the_whole_range_as_ci() -> None:
    """x = 1, 2, 3; y = 1, 3, 2: Sxy = 1, Sxx = Syy = 2, r = 0.5; the standard error of
    atanh r, 1 / sqrt(n - 3), is infinite, so the CI is (-1, 1)."""
    assert metrics.pearson([1, 2, 3], [1, 3, 2]) == pytest.approx((0.5, -1.0, 1.0))


@pytest.mark.parametrize(
    ("ref", "pred"), [([1, 2], [2, 1]), ([1, 1, 1, 1], [1, 2, 3, 4]), ([1, 2, 3, 4], [5] * 4)]
)
def test_pearson_where_r_is_undefined_is_nan(ref: list, pred: list) -> None:
    """Two pairs or a constant input: r and its CI are NaN (rlnet.correlation's rule)."""
    assert all(math.isnan(v) for v in metrics.pearson(ref, pred))


@pytest.mark.parametrize(
    ("ref", "pred", "message"),
    [
        ([1, 2, 3, 4], [1, 2, 3], "length mismatch"),
        ([1, 2, 3, 4], [1, np.nan, np.inf, 4], "prediction has 2 non-finite"),
    ],
)
def test_pearson_rejects_bad_input(ref: list, pred: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        metrics.pearson(ref, pred)


# --- ICC --------------------------------------------------------------------------------------


def test_icc_shrout_fleiss_published_value() -> None:
    """Shrout & Fleiss (1979) Table 2 data; their Table 4 gives ICC(2,1) = .29."""
    assert metrics.icc_from_ratings(SHROUT_FLEISS) == pytest.approx(0.29, abs=0.005)


def test_icc_two_raters_hand_computed() -> None:
    """Ratings (1,2) (2,2) (3,4) (4,5): grand mean 2.875, n = 4, k = 2.

    SSR = 2 * 5.6875 = 11.375, SSC = 4 * 0.28125 = 1.125, SST = 12.875, SSE = 0.375;
    MSR = 11.375/3, MSC = 1.125, MSE = 0.125;
    ICC = (11/3) / (11.375/3 + 0.125 + 2 * 1.0 / 4) = (11/3) / (53/12) = 44/53.
    """
    assert metrics.icc([1, 2, 3, 4], [2, 2, 4, 5]) == pytest.approx(44 / 53)


def test_icc_penalises_bias_unlike_pearson() -> None:
    ref = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert metrics.pearson(ref, ref + 10)[0] == pytest.approx(1.0)
    assert metrics.icc(ref, ref + 10) < 0.1


# --- kappa and accuracy -----------------------------------------------------------------------


def test_weighted_kappa_hand_computed() -> None:
    """ref (0,0,1,1,2,2), pred (0,1,1,1,2,0), 3 groups, weights 1 - |i-j|/2.

    Observed weighted agreement (1 + .5 + 2 + 0 + 1) / 6 = 0.75. Margins: rows 1/3 each,
    columns (1/3, 1/2, 1/6); column sums of weights (1.5, 2, 1.5) so expected
    (1/3)(1.5/3 + 2/2 + 1.5/6) = 0.583333. kappa = (0.75 - 0.583333) / (1 - 0.583333) = 0.4.
    """
    ref, pred = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]
    assert metrics.weighted_kappa(ref, pred, n_groups=3) == pytest.approx(0.4)
    # Absent groups at the top of the scale rescale all linear distances alike: no change.
    assert metrics.weighted_kappa(ref, pred, n_groups=5) == pytest.approx(0.4)


def kappa_by_pairs(ref: list[int], pred: list[int]) -> float:
    """Linear weighted kappa without a confusion table: 1 - D_o / D_e, the mean distance
    |ref_k - pred_k| of each subject's own pair over the mean distance |ref_k - pred_l| of all
    n^2 pairings (chance). The weights' scale 1 / (n_groups - 1) cancels."""
    observed = np.mean([abs(r - p) for r, p in zip(ref, pred, strict=True)])
    chance = np.mean([abs(r - p) for r in ref for p in pred])
    return 1.0 - observed / chance


def test_kappa_by_pairs_on_the_hand_example() -> None:
    """The example above by pairs: D_o = (0 + 1 + 0 + 0 + 0 + 2) / 6 = 1/2; against the
    predictions (0, 1, 1, 1, 2, 0) the references 0, 1, 2 have summed distances 5, 3, 7, each
    twice, so D_e = 30 / 36 = 5/6 and kappa = 1 - (1/2) / (5/6) = 0.4, as by the table."""
    assert kappa_by_pairs([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]) == pytest.approx(0.4)


def test_weighted_kappa_keeps_absent_middle_group_on_the_scale() -> None:
    """Group 2 is absent from both raters; it must still sit between 1 and 3."""
    ref = [0, 1, 1, 3, 3, 4, 0, 4]
    pred = [0, 1, 3, 3, 1, 4, 1, 3]
    ours = metrics.weighted_kappa(ref, pred, n_groups=5)
    assert ours == pytest.approx(kappa_by_pairs(ref, pred))
    relabel = {0: 0, 1: 1, 3: 2, 4: 3}  # what a present-labels-only implementation sees
    squeezed = metrics.weighted_kappa(
        [relabel[g] for g in ref], [relabel[g] for g in pred], n_groups=4
    )
    assert abs(ours - squeezed) > 0.01


@pytest.mark.parametrize("n_groups", [2, 3, 5])
def test_weighted_kappa_matches_the_pairs_definition(n_groups: int) -> None:
    rng = np.random.default_rng(n_groups)
    for n in (5, 17, 60):
        ref = rng.integers(0, n_groups, n)
        pred = np.clip(ref + rng.integers(-1, 2, n), 0, n_groups - 1)
        expected = kappa_by_pairs(ref.tolist(), pred.tolist())
        assert metrics.weighted_kappa(ref, pred, n_groups=n_groups) == pytest.approx(expected)


def test_weighted_kappa_undefined_and_invalid() -> None:
    assert math.isnan(metrics.weighted_kappa([2, 2, 2], [2, 2, 2]))
    with pytest.raises(ValueError, match="integer groups in \\[0, 5\\)"):
        metrics.weighted_kappa([0, 5], [0, 1])
    with pytest.raises(ValueError, match="predicted_groups has 1 non-finite"):
        metrics.weighted_kappa([0, 1], [0, np.nan])


def test_risk_accuracy() -> None:
    assert metrics.risk_accuracy([0, 1, 2, 3], [0, 1, 3, 3]) == 0.75
    with pytest.raises(ValueError, match="length mismatch"):
        metrics.risk_accuracy([0, 1], [0])


# --- Dice and Hausdorff -----------------------------------------------------------------------


def _two_pixel_masks() -> tuple[np.ndarray, np.ndarray]:
    """a = {(0,0), (0,1)}, b = {(0,0), (2,0)} in (y, x)."""
    a = np.zeros((3, 2), dtype=bool)
    b = np.zeros((3, 2), dtype=bool)
    a[0, 0] = a[0, 1] = True
    b[0, 0] = b[2, 0] = True
    return a, b


def test_dice_hand_computed_and_empty() -> None:
    a, b = _two_pixel_masks()
    assert metrics.dice(a, b) == 0.5  # 2 * 1 / (2 + 2)
    empty = np.zeros((4, 4))
    assert metrics.dice(empty, empty) == 1.0
    assert metrics.dice(empty, np.eye(4)) == 0.0


def test_pooled_dice_sums_counts_before_dividing() -> None:
    # slices (inter, n_pred, n_ref): (2, 4, 4) Dice 0.5 and (0, 3, 0) Dice 0: mean 0.25, but
    # pooled 2 * 2 / ((4 + 3) + (4 + 0)) = 4 / 11
    assert metrics.pooled_dice([2, 0], [4, 3], [4, 0]) == pytest.approx(4 / 11)
    assert metrics.pooled_dice([0, 0], [0, 0], [0, 0]) == 1.0  # all empty, as dice()


def test_hausdorff_anisotropic_2d_hand_computed() -> None:
    """Spacing (dy, dx) = (2, 1) mm.

    a->b: (0,0) 0; (0,1) -> (0,0) 1 mm. Mean 0.5, max 1.
    b->a: (0,0) 0; (2,0) -> (0,0) 4 mm (to (0,1): sqrt(17)). Mean 2, max 4.
    Hausdorff 4 mm; average Hausdorff (0.5 + 2) / 2 = 1.25 mm.
    In pixels: a->b mean 0.5, b->a mean 1, max 2; average (0.5 + 1) / 2 = 0.75.
    """
    a, b = _two_pixel_masks()
    assert metrics.hausdorff(a, b, (2.0, 1.0)) == pytest.approx((4.0, 1.25))
    assert metrics.hausdorff_px(a, b) == pytest.approx((2.0, 0.75))


def test_hausdorff_anisotropic_3d_axis_order() -> None:
    """Spacing (z, y, x) = (3, 1, 0.5): one voxel each, offset (1, 0, 2) voxels = (3, 0, 1) mm."""
    a = np.zeros((2, 1, 3), dtype=bool)
    b = np.zeros((2, 1, 3), dtype=bool)
    a[0, 0, 0] = True
    b[1, 0, 2] = True
    assert metrics.hausdorff(a, b, (3.0, 1.0, 0.5)) == pytest.approx((math.sqrt(10),) * 2)


def _brute_force(a: np.ndarray, b: np.ndarray, spacing: tuple[float, ...]) -> tuple[float, float]:
    pa, pb = np.argwhere(a) * spacing, np.argwhere(b) * spacing
    d = cdist(pa, pb)
    ab, ba = d.min(axis=1), d.min(axis=0)
    return max(ab.max(), ba.max()), (ab.mean() + ba.mean()) / 2


def test_cropping_changes_nothing_and_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    for trial in range(25):
        shape = (40, 50)
        a = np.zeros(shape, dtype=bool)
        b = np.zeros(shape, dtype=bool)
        for mask in (a, b):
            y, x = rng.integers(0, 35), rng.integers(0, 45)
            mask[y : y + rng.integers(1, 6), x : x + rng.integers(1, 6)] = True
            mask |= rng.random(shape) < 0.003
        if trial % 5 == 0:  # touching the image border
            a[0, :3] = b[-1, -3:] = True
        spacing = (0.7, 1.3)
        cropped = metrics.hausdorff(a, b, spacing)
        full = metrics._sitk_hausdorff(a, b, spacing)
        assert cropped == pytest.approx(full, rel=1e-12)
        assert cropped == pytest.approx(_brute_force(a, b, spacing), rel=1e-9)


def test_hausdorff_empty_masks_are_nan_and_counted() -> None:
    empty = np.zeros((5, 5), dtype=bool)
    full = np.ones((5, 5), dtype=bool)
    for a, b in ((empty, full), (full, empty), (empty, empty)):
        assert all(math.isnan(v) for v in metrics.hausdorff(a, b, (1.0, 1.0)))
    summary = metrics.nan_summary([1.0, 3.0, float("nan")])
    assert summary == {"mean": 2.0, "std": pytest.approx(math.sqrt(2)), "n": 3, "n_undefined": 1}


def test_mask_validation() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.dice(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="spacing"):
        metrics.hausdorff(np.ones((2, 2)), np.ones((2, 2)), (1.0,))
    with pytest.raises(ValueError, match="a has 1 non-finite"):
        metrics.dice(np.array([[np.nan, 1.0]]), np.ones((1, 2)))


# --- bootstrap --------------------------------------------------------------------------------


def bootstrap_ci(statistic, *arrays, **kw) -> tuple[float, float]:
    """The 95% percentile interval of the replicates, as rlnet.evaluate takes it."""
    return metrics.percentile_ci(metrics.bootstrap_replicates(statistic, *arrays, **kw))


def test_bootstrap_is_deterministic_and_seeded() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    y = x + rng.normal(scale=0.5, size=60)

    def r(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a, b)[0, 1])

    first = bootstrap_ci(r, x, y, n_boot=200, seed=3)
    assert first == bootstrap_ci(r, x, y, n_boot=200, seed=3)
    assert first != bootstrap_ci(r, x, y, n_boot=200, seed=4)
    assert first[0] < r(x, y) < first[1]


def test_bootstrap_resamples_whole_subjects() -> None:
    """Each subject has two rows with a subject-specific value; resampling by subject keeps
    both rows together, so every resample has an even number of rows per value."""
    values = np.repeat(np.arange(10.0), 2)
    subjects = np.repeat([f"s{i}" for i in range(10)], 2)

    def pairs_intact(v: np.ndarray) -> float:
        _, counts = np.unique(v, return_counts=True)
        return float(np.all(counts % 2 == 0))

    assert bootstrap_ci(pairs_intact, values, groups=subjects, n_boot=50) == (1.0, 1.0)
    low, _ = bootstrap_ci(pairs_intact, values, n_boot=50)
    assert low == 0.0  # row-wise resampling splits subjects


def test_bootstrap_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="length mismatch"):
        metrics.bootstrap_replicates(np.mean, [1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="groups has 2"):
        metrics.bootstrap_replicates(np.mean, [1, 2, 3], groups=[1, 2])
