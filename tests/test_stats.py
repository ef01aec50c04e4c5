"""Tests of rlnet.stats against published worked examples."""

import math

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import SquareTable

from rlnet import stats

# R's datasets::airquality, Ozone (ppb) by Month with the 37 NA rows dropped (n = 116).
AIRQUALITY_OZONE = {
    "5": [41, 36, 12, 18, 28, 23, 19, 8, 7, 16, 11, 14, 18, 14, 34, 6, 30, 11, 1, 11, 4, 32, 23]
    + [45, 115, 37],
    "6": [29, 71, 39, 23, 21, 37, 20, 12, 13],
    "7": [135, 49, 32, 64, 40, 77, 97, 97, 85, 10, 27, 7, 48, 35, 61, 79, 63, 16, 80, 108, 20]
    + [52, 82, 50, 64, 59],
    "8": [39, 9, 16, 78, 35, 66, 122, 89, 110, 44, 28, 65, 22, 59, 23, 31, 44, 21, 9, 45, 168]
    + [73, 76, 118, 84, 85],
    "9": [96, 78, 73, 91, 47, 32, 20, 23, 21, 24, 44, 21, 28, 9, 13, 46, 18, 13, 24, 16, 13, 23]
    + [36, 7, 14, 30, 14, 18, 20],
}

# seaborn-data exercise.csv: pulse by kind (30 each), as used by scikit-posthocs' tests.
EXERCISE_PULSE = {
    "rest": [85, 85, 88, 90, 92, 93, 97, 97, 94, 80, 82, 83, 91, 92, 91, 83, 83, 84, 87, 88]
    + [90, 92, 94, 95, 97, 99, 96, 100, 97, 100],
    "walking": [86, 86, 84, 93, 103, 104, 90, 92, 93, 95, 96, 100, 89, 96, 95, 84, 86, 89, 103]
    + [109, 90, 92, 96, 101, 97, 98, 100, 102, 104, 103],
    "running": [93, 98, 110, 98, 104, 112, 98, 105, 99, 87, 132, 120, 94, 110, 116, 95, 126]
    + [143, 100, 126, 140, 103, 124, 140, 94, 135, 130, 99, 111, 150],
}


# --- Williams ---------------------------------------------------------------------------------


def test_williams_psych_r_test_example() -> None:
    """psych::r.test(n = 103, r12 = .4, r13 = .5, r23 = .1) (Steiger 1980 example), which
    prints t = -0.89, p = 0.37. By hand: |R| = 1 - .16 - .25 - .01 + .04 = 0.62, rbar = 0.45,
    denom = 2 * 102/100 * 0.62 + 0.2025 * 0.729 = 1.412423, t = -0.1 * sqrt(102 * 1.1 /
    1.412423) = -0.891280, df = 100, p = 2 * P(T_100 > 0.891280) = 0.374919."""
    t, p = stats.williams_test(0.4, 0.5, 0.1, 103)
    assert t == pytest.approx(-0.891280, abs=1e-6)
    assert p == pytest.approx(0.374919, abs=1e-6)


def test_williams_bruce_r_cor_diff_example() -> None:
    """bruceR::cor_diff(r1 = .20, r2 = .45, n = 100, rcov = .80) documents
    "t(97) = -4.56, p = 1e-05" (https://psychbruce.github.io/bruceR/reference/cor_diff.html)."""
    t, p = stats.williams_test(0.20, 0.45, 0.80, 100)
    assert t == pytest.approx(-4.56, abs=0.005)
    assert p == pytest.approx(1.5e-5, abs=0.5e-5)


def test_williams_from_data_matches_summary_form() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(size=80)
    a = ref + rng.normal(scale=0.3, size=80)
    b = ref + rng.normal(scale=0.6, size=80)
    r = np.corrcoef([ref, a, b])
    expected = stats.williams_test(r[0, 1], r[0, 2], r[1, 2], 80)
    assert stats.williams_from_data(ref, a, b) == pytest.approx(expected)
    assert expected[0] > 0 and expected[1] < 0.05


def test_williams_from_data_of_three_subjects_is_undefined() -> None:
    """Three subjects: both r are defined (pearson), Williams's t has n - 3 = 0 degrees of
    freedom, so the test is reported as NaN (Table III's cell) instead of stopping the table."""
    t, p = stats.williams_from_data([1, 2, 3], [1, 3, 2], [2, 1, 3])
    assert math.isnan(t) and math.isnan(p)


def test_williams_from_data_with_a_constant_prediction_is_undefined() -> None:
    """A constant prediction has no r (rlnet.correlation): the test is NaN, not an error."""
    t, p = stats.williams_from_data([1, 2, 3, 4, 5], [1, 3, 2, 4, 5], [2, 2, 2, 2, 2])
    assert math.isnan(t) and math.isnan(p)


def test_williams_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="n = 3"):
        stats.williams_test(0.5, 0.4, 0.3, 3)
    with pytest.raises(ValueError, match="r_kh = 1.5"):
        stats.williams_test(0.5, 0.4, 1.5, 30)
    with pytest.raises(ValueError, match="prediction_b has 1 non-finite"):
        stats.williams_from_data([1, 2, 3, 4, 5], [1, 3, 2, 4, 5], [1, 2, np.nan, 4, 5])


# --- Kruskal-Wallis and Dunn ------------------------------------------------------------------


def test_kruskal_matches_r_airquality_example() -> None:
    """R: kruskal.test(Ozone ~ Month, data = airquality) ->
    Kruskal-Wallis chi-squared = 29.267, df = 4, p-value = 6.901e-06."""
    h, p, pairwise = stats.kruskal_dunn(AIRQUALITY_OZONE)
    assert h == pytest.approx(29.267, abs=5e-4)
    assert p == pytest.approx(6.901e-06, rel=1e-3)
    assert list(pairwise.index) == list(pairwise.columns) == ["5", "6", "7", "8", "9"]


def test_dunn_matches_r_pmcmrplus_holm() -> None:
    """Holm-adjusted Dunn p from R (PMCMRplus), as in scikit-posthocs' tests/test_posthocs.py:
    rest-walking 4.390066e-02, rest-running 9.570998e-09, walking-running 1.873208e-04."""
    _, _, p = stats.kruskal_dunn(EXERCISE_PULSE)
    assert list(p.index) == ["rest", "walking", "running"]
    assert p.loc["rest", "walking"] == pytest.approx(4.390066e-02, rel=1e-6)
    assert p.loc["rest", "running"] == pytest.approx(9.570998e-09, rel=1e-6)
    assert p.loc["running", "walking"] == pytest.approx(1.873208e-04, rel=1e-6)


def test_kruskal_dunn_rejects_bad_groups() -> None:
    with pytest.raises(ValueError, match="at least 2 groups"):
        stats.kruskal_dunn({"only": [1.0, 2.0]})
    with pytest.raises(ValueError, match="empty group.*'b'"):
        stats.kruskal_dunn({"a": [1.0, 2.0], "b": []})
    with pytest.raises(ValueError, match="group 'b' has 1 non-finite"):
        stats.kruskal_dunn({"a": [1.0, 2.0], "b": [1.0, np.nan]})


# --- Stuart-Maxwell ---------------------------------------------------------------------------


def test_stuart_maxwell_nonpar_documented_example() -> None:
    """nonpar::stuart.maxwell(matrix(c(12, 30, 13, 7, 70, 34, 3, 20, 32), 3, 3)) documents
    Test Statistic = 23.5709322524609, df = 2, p = 7.61442467334117e-06 (R fills by column)."""
    table = np.array([12, 30, 13, 7, 70, 34, 3, 20, 32]).reshape(3, 3).T
    chi2, df, p = stats.stuart_maxwell(table)
    assert (chi2, df) == (pytest.approx(23.5709322524609), 2)
    assert p == pytest.approx(7.61442467334117e-06, rel=1e-6)


def test_stuart_maxwell_r_reference_values() -> None:
    """R reference values shipped with statsmodels (stats/tests/results/
    contingency_table_r_results.csv): Agresti (2002, p. 421) PreExSex table 271.922246968262
    with df 3, and a 3x3 table 13.7647058823529 with df 2."""
    pre_ex_sex = [[144, 33, 84, 126], [2, 4, 14, 29], [0, 2, 6, 25], [0, 0, 1, 5]]
    assert stats.stuart_maxwell(pre_ex_sex)[:2] == (pytest.approx(271.922246968262), 3)
    small = [[20, 10, 5], [3, 30, 15], [0, 5, 40]]
    assert stats.stuart_maxwell(small)[:2] == (pytest.approx(13.7647058823529), 2)


def test_stuart_maxwell_agresti_coffee_table() -> None:
    """Agresti's coffee brand-choice 5x5 table (n = 541). Stuart-Maxwell gives 12.29 (df 4);
    the 12.58 often quoted for it is Bhapkar's W = SM / (1 - SM / n)."""
    coffee = np.array(
        [
            [93, 17, 44, 7, 10],
            [9, 46, 11, 0, 9],
            [17, 11, 155, 9, 12],
            [6, 4, 9, 15, 2],
            [10, 4, 12, 2, 27],
        ]
    )
    chi2, df, p = stats.stuart_maxwell(coffee)
    assert (round(chi2, 2), df) == (12.29, 4)
    assert chi2 / (1 - chi2 / coffee.sum()) == pytest.approx(12.58, abs=0.005)
    assert p == pytest.approx(0.0153, abs=1e-4)


def test_stuart_maxwell_drops_absent_groups() -> None:
    """Groups 3 and 4 absent from both methods: statsmodels alone returns NaN (singular
    covariance); we drop them, giving the 3x3 statistic with df 2."""
    small = np.array([[20, 10, 5], [3, 30, 15], [0, 5, 40]])
    padded = np.zeros((5, 5))
    padded[:3, :3] = small
    with pytest.warns(Warning):
        assert np.isnan(SquareTable(padded, shift_zeros=False).homogeneity().statistic)
    assert stats.stuart_maxwell(padded) == pytest.approx(stats.stuart_maxwell(small))
    a = np.repeat([0, 0, 0, 1, 1, 1, 2, 2, 2], small.ravel())
    b = np.repeat([0, 1, 2, 0, 1, 2, 0, 1, 2], small.ravel())
    assert stats.stuart_maxwell_from_groups(a, b) == pytest.approx(stats.stuart_maxwell(small))


def test_stuart_maxwell_disconnected_disagreements_equal_pseudo_inverse() -> None:
    """Disagreements only within {0, 1} and within {2, 3, 4}, plus a perfectly agreed group:
    the statistic equals d' S^+ d with df = rank(S) = 1 + 2."""
    table = np.array(
        [
            [10, 4, 0, 0, 0],
            [9, 12, 0, 0, 0],
            [0, 0, 7, 3, 1],
            [0, 0, 6, 9, 2],
            [0, 0, 5, 0, 8],
        ],
        dtype=float,
    )
    d = table.sum(axis=1) - table.sum(axis=0)
    cov = -(table + table.T)
    np.fill_diagonal(cov, table.sum(axis=1) + table.sum(axis=0) - 2 * np.diag(table))
    chi2, df, _ = stats.stuart_maxwell(table)
    assert chi2 == pytest.approx(d @ np.linalg.pinv(cov) @ d)
    assert df == np.linalg.matrix_rank(cov) == 3


def test_stuart_maxwell_perfect_agreement_and_bad_shape() -> None:
    assert stats.stuart_maxwell(np.diag([3, 0, 5, 1, 2])) == (0.0, 0, 1.0)
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        stats.stuart_maxwell(np.ones((2, 3)))
    with pytest.raises(ValueError, match="length mismatch"):
        stats.stuart_maxwell_from_groups([0, 1], [0])


# --- adjustment of a family of p-values --------------------------------------------------------


def test_holm_by_hand_with_an_undefined_test_left_out() -> None:
    """Holm (1979) on 0.01, 0.04, 0.03, 0.005 (m = 4): sorted 0.005 x 4 = 0.02, 0.01 x 3 = 0.03,
    0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> running maximum 0.06. A NaN (a test that could not be
    run) stays NaN and does not enlarge the family."""
    adjusted = stats.adjust_pvalues([0.01, 0.04, np.nan, 0.03, 0.005], "holm")
    np.testing.assert_allclose(adjusted, [0.03, 0.06, np.nan, 0.06, 0.02])


def test_bonferroni_and_bh_by_hand_and_none_unchanged() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(stats.adjust_pvalues(p, "bonferroni"), [0.04, 0.16, 0.12, 0.02])
    # Benjamini-Hochberg: p_(i) m / i = 0.02, 0.02, 0.04, 0.04, then the running minimum from
    # the largest: 0.04, 0.04, 0.02, 0.02
    np.testing.assert_allclose(stats.adjust_pvalues(p, "fdr_bh"), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_array_equal(stats.adjust_pvalues(p, "none"), p)


def test_adjustment_refuses_unknown_methods_and_non_p_values() -> None:
    with pytest.raises(ValueError, match="unknown p-value adjustment 'sidak'"):
        stats.adjust_pvalues([0.1], "sidak")
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        stats.adjust_pvalues([0.1, 1.5])


# --- Wilcoxon's signed-rank test, paired by case -----------------------------------------------


def test_wilcoxon_exact_p_by_hand() -> None:
    """Five pairs, every difference positive with distinct ranks: W- = 0, the most extreme of
    2^5 equally likely sign patterns on each side: two-sided exact p = 2 / 32 = 0.0625."""
    p, n = stats.wilcoxon_paired([1.1, 2.3, 3.6, 4.0, 5.5], [1.0, 2.0, 3.0, 3.2, 4.5])
    assert p == pytest.approx(0.0625) and n == 5


def test_wilcoxon_drops_undefined_pairs_and_reads_no_difference_as_p_1() -> None:
    p, n = stats.wilcoxon_paired([1.1, np.nan, 2.3, 3.6, 4.0, 5.5], [1.0, 7, 2.0, 3.0, 3.2, 4.5])
    assert (p, n) == (pytest.approx(0.0625), 5)
    assert stats.wilcoxon_paired([0.5, 0.7], [0.5, 0.7]) == (1.0, 2)
    p, n = stats.wilcoxon_paired([np.nan], [0.5])
    assert math.isnan(p) and n == 0
