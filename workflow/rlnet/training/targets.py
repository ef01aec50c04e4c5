"""What a model learns: the target column, its transform, and the RL head's starting bias.

Everything here is derived from the training split alone (never validation or test): the
automatic output bias makes an untrained RL model predict the mean training target, and a
direct regressor's target may be learned as ln(1 + y) (``target_transform: log1p``) and
inverted for prediction.
"""

import logging
import math

import numpy as np

from rlnet.prepare import Prepared
from rlnet.settings import TrainingSettings

log = logging.getLogger(__name__)

#: The sigmoid probability an automatic output bias corresponds to is clipped to this range
#: (bias within +-9.2), so a target near zero or near the whole candidate measure stays finite.
BIAS_PROBABILITY_RANGE = (1e-4, 1.0 - 1e-4)

#: ``training.target_transform`` values; they apply to direct regressors (family "enc") only.
TRANSFORMS = ("none", "log1p")


class TargetError(ValueError):
    """Targets or candidates a model cannot learn from; the message names the case or split."""


def target_column(score: str, family: str) -> str:
    """Column of cases.tsv a model family regresses for a biomarker ``score``
    (rlnet.biomarker: measure | agatston).

    The RL head sums its localization, so on an Agatston problem it learns the calcium volume
    (the score is computed afterwards from its mask); direct regressors learn the score.
    """
    return "agatston" if score == "agatston" and family == "enc" else "value"


def effective_transform(settings: TrainingSettings, family: str) -> str:
    """The target transform a run of ``family`` uses: ``settings.target_transform`` for direct
    regressors, always "none" for RL and segmentation models."""
    name = settings.target_transform
    if name not in TRANSFORMS:
        raise TargetError(
            f"training setting 'target_transform': {name!r} is not one of {', '.join(TRANSFORMS)}"
        )
    return name if family == "enc" else "none"


def forward(values: np.ndarray, transform: str, case_ids: list[str] | None = None) -> np.ndarray:
    """Targets in the space a model learns them: unchanged ("none") or ln(1 + y) ("log1p",
    y >= 0 required; ``case_ids`` name an offending case)."""
    values = np.asarray(values, dtype=float)
    if transform == "none":
        return values
    bad = np.flatnonzero(~(values >= 0))
    if len(bad):
        case = case_ids[bad[0]] if case_ids is not None else f"#{bad[0]}"
        raise TargetError(
            f"target_transform log1p needs non-negative targets; case {case} has "
            f"{values[bad[0]]:g} ({len(bad)} such case(s))"
        )
    return np.log1p(values)


def inverse(values: np.ndarray, transform: str) -> np.ndarray:
    """Predictions back in target units: unchanged ("none") or exp(y) - 1 clipped at 0
    ("log1p")."""
    values = np.asarray(values, dtype=float)
    if transform == "none":
        return values
    return np.maximum(np.expm1(values), 0.0)


def candidate_measures(prepared: Prepared, indices: np.ndarray) -> np.ndarray:
    """Per case: candidate voxels inside the network window x pixel area (mm^2, 2D) or voxel
    volume (mm^3, 3D), i.e. what the RL head sums with its map at 1 everywhere. Reads one case
    at a time (memory-mapped)."""
    region = prepared.region()
    voxel = prepared.cases["voxel_size"].astype(float).to_numpy()
    return np.array(
        [
            float(np.count_nonzero(prepared.candidates[i][region])) * voxel[i]
            for i in np.asarray(indices, dtype=int)
        ]
    )


def auto_output_bias(prepared: Prepared, indices: np.ndarray, targets: np.ndarray) -> float:
    """b = logit(mean target / mean candidate measure) over the training cases ``indices``
    (``targets`` aligned with them, in the units of the measure), the fraction clipped to
    ``BIAS_PROBABILITY_RANGE``: with the map at sigmoid(b) everywhere, the RL head's first
    prediction of an average case is the mean training target."""
    measure = float(np.mean(candidate_measures(prepared, indices)))
    mean_target = float(np.mean(targets))
    if measure <= 0:
        raise TargetError(
            f"the {len(indices)} training cases have no candidate voxels inside the network "
            f"window (candidates.npy is zero there): an RL model has nothing to sum; check the "
            f"problem's candidates setting"
        )
    fraction = mean_target / measure
    low, high = BIAS_PROBABILITY_RANGE
    if not low <= fraction <= high:
        log.warning(
            "mean training target %g is %.3g of the mean candidate measure %g: outside "
            "[%g, %g], the automatic output bias is clipped",
            mean_target,
            fraction,
            measure,
            low,
            high,
        )
    p = min(max(fraction, low), high)
    bias = math.log(p / (1.0 - p))
    log.info(
        "automatic output bias %.4f: mean training target %g / mean candidate measure %g = %.4g",
        bias,
        mean_target,
        measure,
        fraction,
    )
    return bias
