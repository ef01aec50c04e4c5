"""The Agatston baselines (:mod:`rlnet.baselines` describes each): the ``rule`` baseline
``agatston`` (every voxel >= 130 HU in the ROI) and the ``heart-rule`` (calcium inside the heart
region grown by a margin fitted on training)."""

import numpy as np
from scipy import ndimage

from rlnet import biomarkers
from rlnet.baseline_fit import (
    Baseline,
    BaselineError,
    reports_agatston,
    training_values,
    voxel_sizes,
    window,
)
from rlnet.prepare import Prepared

#: Margins (mm) around the heart region tried by the heart rule.
HEART_MARGINS_MM = np.arange(0.0, 11.0, 1.0)


def _check_agatston_data(prepared: Prepared, what: str) -> None:
    """BaselineError naming ``what`` unless the problem is 3D with a reference Agatston score
    for every case."""
    if prepared.spatial_dims != 3 or not reports_agatston(prepared):
        raise BaselineError(
            f"{what}: needs 3D images with a reference Agatston score for every case "
            "(cases.tsv column agatston)"
        )


def _baseline(
    prepared: Prepared, test: np.ndarray, masks: list, scores: list, n_train: int, fit: dict
) -> Baseline:
    """The Baseline of the test cases ``test``: their lesion ``masks`` (ROI, z y x), their
    calcium volume (mm^3) as values and their Agatston ``scores``."""
    stacked = np.stack(masks).astype(np.uint8)
    volumes = stacked.reshape(len(test), -1).sum(axis=1) * voxel_sizes(prepared, test)
    return Baseline(
        values=volumes.astype(float),
        masks=stacked,
        target="agatston",
        n_train=n_train,
        fit=fit,
        agatston=np.asarray(scores, float),
    )


def agatston_rule(prepared: Prepared, problem: str, agatston_kw: dict) -> Baseline:
    """Agatston score and volume of every voxel >= 130 HU in the ROI; no training."""
    _check_agatston_data(prepared, f"problem {problem}, baseline rule 'agatston'")
    test = prepared.indices("test")
    scores, masks = [], []
    for index in test:
        image = window(prepared, prepared.images, index)
        mask = image >= biomarkers.AGATSTON_THRESHOLD_HU
        scores.append(biomarkers.agatston(image, mask, prepared.spacing(index), **agatston_kw))
        masks.append(mask)
    fit = {"threshold_hu": biomarkers.AGATSTON_THRESHOLD_HU}
    return _baseline(prepared, test, masks, scores, 0, fit)


def heart_regions(prepared: Prepared, index: int, margins: np.ndarray) -> list[np.ndarray] | None:
    """The case's heart region grown by each margin (mm), in the window; None without one. The
    distance to the region is taken over the whole stored array (ROI + margin)."""
    if prepared.heart is None or not int(prepared.cases.loc[index, "has_heart"]):
        return None
    region = np.asarray(prepared.heart[index]) > 0
    if not region.any():
        return None
    distance = ndimage.distance_transform_edt(~region, sampling=prepared.spacing(index))
    inside = distance[prepared.region()]
    return [inside <= m for m in margins]


def heart_rule(prepared: Prepared, problem: str, agatston_kw: dict) -> Baseline:
    """Agatston lesions inside the heart region grown by a margin fitted on training."""
    _check_agatston_data(prepared, f"problem {problem}, baseline heart-rule")
    lesion_kw = {k: agatston_kw[k] for k in ("connectivity", "min_lesion_mm2") if k in agatston_kw}

    def scored(index: int, region: np.ndarray) -> tuple[float, np.ndarray]:
        image, spacing = window(prepared, prepared.images, index), prepared.spacing(index)
        lesions = biomarkers.counted_lesions(image, region, spacing, **lesion_kw)
        return biomarkers.agatston(image, lesions, spacing, **agatston_kw), lesions

    train, target = training_values(prepared, "agatston")
    errors, fitted = np.zeros(len(HEART_MARGINS_MM)), 0
    for index, score in zip(train, target, strict=True):
        regions = heart_regions(prepared, index, HEART_MARGINS_MM)
        if regions is not None:
            fitted += 1
            errors += [abs(scored(index, r)[0] - score) for r in regions]
    k = int(np.argmin(errors)) if fitted else 0
    margin = float(HEART_MARGINS_MM[k])
    test = prepared.indices("test")
    scores, masks, from_roi = [], [], 0
    for index in test:
        regions = heart_regions(prepared, index, HEART_MARGINS_MM[k : k + 1])
        if regions is None:
            from_roi += 1
            regions = [np.ones(prepared.window(), bool)]
        score, lesions = scored(index, regions[0])
        scores.append(score)
        masks.append(lesions)
    fit = {
        "margin_mm": margin if fitted else None,
        "margins_mm": HEART_MARGINS_MM.tolist(),
        "train_mae_agatston": float(errors[k] / fitted) if fitted else None,
        "train_cases_with_heart": fitted,
        "test_cases_whole_roi": from_roi,
        "threshold_hu": biomarkers.AGATSTON_THRESHOLD_HU,
        **lesion_kw,
    }
    return _baseline(prepared, test, masks, scores, fitted, fit)
