"""What every learning-free baseline shares: its output record, the network window, the
training split's values, the least-squares calibration and the choice of a setting by training
Pearson r (:mod:`rlnet.correlation`)."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rlnet.correlation import pearson_r
from rlnet.prepare import Prepared


class BaselineError(ValueError):
    """A baseline that cannot be computed; the message names the problem and the reason."""


@dataclass
class Baseline:
    """One baseline's test-split output, before it is written.

    values: (N_test,) predicted value (the unit of cases.tsv ``value``: mm^2 or mm^3).
    masks: (N_test, *window) uint8 localization.
    agatston: (N_test,) predicted Agatston score, or None (scored from ``masks`` if needed).
    target: the cases.tsv column fitted (``value``), or ``agatston`` for the Agatston rule.
    fit: the fitted numbers (calibration, chosen level or threshold, training r).
    """

    values: np.ndarray
    masks: np.ndarray
    target: str
    n_train: int
    fit: dict = field(default_factory=dict)
    agatston: np.ndarray | None = None


def window(prepared: Prepared, array: np.ndarray, index: int) -> np.ndarray:
    """One case's array inside the network window, read into memory."""
    return np.asarray(array[index][prepared.region()])


def voxel_sizes(prepared: Prepared, indices: np.ndarray) -> np.ndarray:
    """Pixel area (mm^2) or voxel volume (mm^3) of each case, from cases.tsv."""
    return prepared.cases.loc[indices, "voxel_size"].astype(float).to_numpy()


def reports_agatston(prepared: Prepared) -> bool:
    """Whether every case has a reference Agatston score (the cac layout of predictions.tsv)."""
    if "agatston" not in prepared.cases:
        return False
    scores = pd.to_numeric(prepared.cases["agatston"], errors="coerce").to_numpy(float)
    return bool(np.isfinite(scores).all())


def fit_linear(measure: np.ndarray, target: np.ndarray, what: str) -> tuple[float, float]:
    """Least-squares (slope, intercept) of target ~ slope * measure + intercept.

    ``what`` names the fit in the error raised when the measure is constant (nothing to fit).
    """
    x, y = np.asarray(measure, float), np.asarray(target, float)
    if x.size < 2 or np.ptp(x) == 0:
        raise BaselineError(
            f"{what}: the training measure is the same for all {x.size} case(s); "
            "a linear calibration needs spread"
        )
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def calibrate(measure: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """slope * measure + intercept, clipped at 0 (a biomarker is never negative)."""
    return np.maximum(slope * np.asarray(measure, float) + intercept, 0.0)


def pearson_rows(measures: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson r (:func:`rlnet.correlation.pearson_r`) of each row of ``measures`` (k, n) with
    ``target`` (n,)."""
    return np.array([pearson_r(row, target) for row in np.asarray(measures, float)])


def best_row(r: np.ndarray, what: str) -> int:
    """Index of the largest defined r (the first on ties); BaselineError if none is defined."""
    if not np.isfinite(r).any():
        raise BaselineError(f"{what}: no candidate setting gives a defined training r")
    return int(np.nanargmax(r))


def training_values(prepared: Prepared, column: str = "value") -> tuple[np.ndarray, np.ndarray]:
    """(indices, values of ``column``) of the training split."""
    train = prepared.indices("train")
    return train, prepared.cases.loc[train, column].astype(float).to_numpy()
