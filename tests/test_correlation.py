"""Tests of rlnet.correlation: Pearson's r against hand-computed values, and its NaN rule."""

import math
import warnings

import numpy as np
import pytest

from rlnet.correlation import pearson_r


def test_hand_computed_r() -> None:
    """x = 1..5, y = (2, 1, 4, 3, 5): Sxy = 8, Sxx = Syy = 10, so r = 8 / 10 = 0.8."""
    assert pearson_r([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8, abs=1e-15)


def test_hand_computed_negative_r_of_three_pairs() -> None:
    """x = (1, 2, 3), y = (3, 3, 0): deviations (-1, 0, 1) and (1, 1, -2): Sxy = -3, Sxx = 2,
    Syy = 6, r = -3 / sqrt(12) = -0.8660254."""
    assert pearson_r([1, 2, 3], [3, 3, 0]) == pytest.approx(-3 / math.sqrt(12), abs=1e-15)


def test_r_is_invariant_to_a_positive_linear_map() -> None:
    x, y = [1.0, 4.0, 2.0, 8.0], [3.0, 1.0, 5.0, 7.0]
    mapped = [10 * v - 3 for v in y]
    assert pearson_r(x, mapped) == pytest.approx(pearson_r(x, y), abs=1e-12)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([], []),
        ([1.0], [2.0]),
        ([1.0, 2.0], [1.0, 3.0]),  # two points: always +-1, reported as undefined
        ([2.0, 2.0, 2.0, 2.0], [1.0, 2.0, 3.0, 4.0]),  # constant x
        ([1.0, 2.0, 3.0, 4.0], [0.1, 0.1, 0.1, 0.1]),  # constant y (its std is not exactly 0)
    ],
)
def test_undefined_r_is_nan_without_a_warning(x: list, y: list) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(pearson_r(x, y))


def test_nearly_constant_input_gives_r_without_a_warning() -> None:
    """scipy warns that a nearly constant input may give an inaccurate r; the r of these
    exactly representable values (deviations -1, 0, 1 times 2^-40) is exact: 1."""
    x = 1.0 + np.array([-1.0, 0.0, 1.0]) * 2.0**-40
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pearson_r(x, [1.0, 2.0, 3.0]) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([1, 2, 3, 4], [1, 2, 3], "x has 4 values, y 3"),
        ([1, 2, 3, 4], [1, np.nan, np.inf, 4], "y has 2 non-finite"),
        ([[1, 2], [3, 4]], [1, 2], r"x must be 1D, got shape \(2, 2\)"),
    ],
)
def test_unpaired_or_non_finite_input_is_an_error(x: list, y: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pearson_r(x, y)
