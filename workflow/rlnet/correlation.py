"""Pearson's correlation coefficient r, with one rule for where it is undefined.

numpy and scipy only, so every environment (training's included) computes r the same way: the
training log's validation r, the metrics' rho, the tables' rho, the figures' rho and the
baselines' choice of a setting all come from :func:`pearson_r`.

The rule: r is NaN when there are fewer than ``MIN_PAIRS`` (3) pairs (two points give +-1
whatever they are) or either sample is constant (all its values equal: r is 0 / 0). Such an r
is a result to report (a collapsed model predicts a constant), so it is NaN, never an error
and never a warning. Inputs that are not paired finite 1D samples are a caller's mistake:
ValueError naming the problem.
"""

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

#: Fewest pairs for which r is reported; with fewer, r is NaN.
MIN_PAIRS = 3


def paired_samples(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` as float 1D arrays of one length; ValueError if they are not 1D, differ
    in length or hold a NaN or inf."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    for name, arr in (("x", a), ("y", b)):
        if arr.ndim != 1:
            raise ValueError(f"Pearson r: {name} must be 1D, got shape {arr.shape}")
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:
            raise ValueError(f"Pearson r: {name} has {bad} non-finite value(s) of {arr.size}")
    if a.size != b.size:
        raise ValueError(f"Pearson r: x has {a.size} values, y {b.size}")
    return a, b


def defined(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether r of the paired samples is defined: at least MIN_PAIRS pairs, neither constant."""
    return x.size >= MIN_PAIRS and np.ptp(x) > 0 and np.ptp(y) > 0


def pearsonr(x: Sequence[float], y: Sequence[float]):
    """``scipy.stats.pearsonr(x, y)`` (its result object: r, p value, confidence interval), or
    None where r is undefined (:func:`defined`). scipy's warning that an input is nearly
    constant is silenced: r is then computed as scipy computes it."""
    a, b = paired_samples(x, y)
    if not defined(a, b):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.NearConstantInputWarning)
        return stats.pearsonr(a, b)


def pearson_r(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's r of paired samples ``x`` and ``y``; NaN where undefined (module docstring)."""
    result = pearsonr(x, y)
    return float("nan") if result is None else float(result.statistic)
