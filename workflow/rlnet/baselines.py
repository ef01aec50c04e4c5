"""Baselines without learning, written like a model's predictions so that metrics, tables and
figures treat them as models (Table II rows; ``python -m rlnet baseline``).

``candidates``  the candidate measure (candidate voxel count x voxel size: mm^2, or mm^3 in 3D)
                calibrated on the training split by least squares, value ~ a * measure + b;
                its mask is every candidate.
``rule``        the best fixed rule without learning; which one is the problem's config key
                ``problems.<name>.baselines.rule``:

    region      the candidates inside a fixed region: the frequency map of the training cases'
                reference masks thresholded at the level whose training-set candidate area
                correlates best (Pearson r) with the value, the area calibrated on training.
    agatston    the Agatston score of every voxel >= 130 HU in the ROI (the settings predict
                uses); no calibration, risk groups from it.
    threshold   the candidates whose Gaussian-smoothed HU lies below (or above) a threshold,
                direction and threshold chosen on training by Pearson r; area calibrated.

``heart-rule``  (Agatston problems) calcium inside the heart: the lesions the Agatston score
                counts (>= 130 HU, in-plane lesions of >= ``min_lesion_mm2``, the
                ``evaluation.agatston`` settings) inside the case's heart region grown by a
                margin, the margin (0-10 mm) minimising the training mean absolute error of the
                Agatston score. The heart region is the prepared heart.npy (the phantom's
                pericardium, or a user's heart_mask / heart_region); a case without one uses its
                whole heart ROI (the margin is then fitted on the cases that have one).
``skin-rule``   (2D problems with HU candidates, no candidate mask) the candidates within a
                distance of the skin: the body (voxels > BODY_HU, holes filled, largest
                component) and each pixel's Euclidean depth under its surface (mm); the
                distance, on a grid of one pixel step, minimising the training squared error of
                the candidate area within it. Not calibrated: the mask's area is the prediction.

Maximising the training r is minimising the calibrated fit's training squared error
(1 - r^2 of the value's variance). Calibrated values are clipped at 0 (no negative area).
Everything is computed in the network window (``Prepared.region``: the slice in 2D, the ROI in
3D), where the metrics stage compares masks. Where the cases carry a reference Agatston score
(cac), the table has predict's Agatston columns: the candidates baseline calibrates the score
on the candidate measure as well; a rule with a mask scores its mask, as the RL models do.

Outputs (one folder, as predict writes for a model): predictions.tsv, localization.npy
(uint8, (N_test, *window)), localizations.npz (the same masks under every localization rule:
a baseline's mask is already binary) and run.json (the identity the metrics stage reads).
"""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from rlnet import atomic, biomarkers, localization, tsv
from rlnet.correlation import pearson_r
from rlnet.model_registry import BASELINES
from rlnet.prepare import Prepared

#: The fixed rules of the ``rule`` baseline (config ``problems.<name>.baselines.rule``).
RULES = ("region", "agatston", "threshold")
#: Gaussian smoothing SD of the threshold rule, pixels (one pixel: noise down, edges kept).
SMOOTHING_PX = 1.0
#: Quantiles of the training candidates' smoothed HU tried as thresholds (1%, 2%, ..., 99%).
THRESHOLD_QUANTILES = np.linspace(0.01, 0.99, 99)
#: ``family`` of a baseline's run.json (models: rl, enc, seg).
FAMILY = "baseline-rule"
#: Margins (mm) around the heart region tried by the heart rule.
HEART_MARGINS_MM = np.arange(0.0, 11.0, 1.0)
#: Voxels above this HU belong to the body (air and lung below; the lungs are holes filled).
BODY_HU = -500.0


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


# --- shared pieces ---------------------------------------------------------------------------


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


# --- candidates --------------------------------------------------------------------------------


def candidate_measures(prepared: Prepared, indices: np.ndarray) -> np.ndarray:
    """Candidate voxel count x voxel size of each case (mm^2 or mm^3)."""
    counts = [np.count_nonzero(window(prepared, prepared.candidates, i)) for i in indices]
    return np.asarray(counts, float) * voxel_sizes(prepared, indices)


def candidates_baseline(prepared: Prepared, problem: str) -> Baseline:
    """The candidate measure calibrated on training (and, with reference Agatston scores, a
    second calibration onto the score); mask = all candidates."""
    train, target = training_values(prepared)
    test = prepared.indices("test")
    train_measure = candidate_measures(prepared, train)
    test_measure = candidate_measures(prepared, test)
    slope, intercept = fit_linear(train_measure, target, f"problem {problem}, baseline candidates")
    fit = {"slope": slope, "intercept": intercept}
    agatston = None
    if reports_agatston(prepared):
        _, scores = training_values(prepared, "agatston")
        a, b = fit_linear(train_measure, scores, f"problem {problem}, baseline candidates")
        fit.update({"agatston_slope": a, "agatston_intercept": b})
        agatston = calibrate(test_measure, a, b)
    masks = np.stack([window(prepared, prepared.candidates, i) > 0 for i in test])
    return Baseline(
        values=calibrate(test_measure, slope, intercept),
        masks=masks.astype(np.uint8),
        target="value",
        n_train=len(train),
        fit=fit,
        agatston=agatston,
    )


# --- rules -------------------------------------------------------------------------------------


def mask_frequency(prepared: Prepared, indices: np.ndarray) -> tuple[np.ndarray, int]:
    """(count map: per pixel, how many of the cases with a reference mask cover it, in the
    window; the number of such cases)."""
    with_mask = [i for i in indices if int(prepared.cases.loc[i, "has_mask"])]
    counts = np.zeros(prepared.window(), np.int64)
    for index in with_mask:
        counts += window(prepared, prepared.masks, index) > 0
    return counts, len(with_mask)


def region_measures(
    prepared: Prepared, indices: np.ndarray, counts: np.ndarray, n_masks: int
) -> np.ndarray:
    """(n_masks, N) candidate measure of each case inside region ``counts >= k``, k = 1..n_masks.

    Per case, a histogram of the count map over its candidates; the pixels at level >= k are
    the histogram's tail from k.
    """
    rows = []
    for index in indices:
        cand = window(prepared, prepared.candidates, index) > 0
        hist = np.bincount(counts[cand], minlength=n_masks + 1)
        rows.append(np.cumsum(hist[::-1])[::-1][1:])
    return np.asarray(rows, float).T * voxel_sizes(prepared, indices)


def region_rule(prepared: Prepared, problem: str) -> Baseline:
    """Candidates inside the training masks' frequency region, level chosen by training r."""
    what = f"problem {problem}, baseline rule 'region'"
    train, target = training_values(prepared)
    counts, n_masks = mask_frequency(prepared, train)
    if n_masks == 0:
        raise BaselineError(f"{what}: no training case has a reference mask to build the region")
    measures = region_measures(prepared, train, counts, n_masks)
    r = pearson_rows(measures, target)
    k = best_row(r, what) + 1
    slope, intercept = fit_linear(measures[k - 1], target, what)
    test = prepared.indices("test")
    region = counts >= k
    masks = np.stack([(window(prepared, prepared.candidates, i) > 0) & region for i in test])
    test_measure = masks.reshape(len(test), -1).sum(axis=1) * voxel_sizes(prepared, test)
    return Baseline(
        values=calibrate(test_measure, slope, intercept),
        masks=masks.astype(np.uint8),
        target="value",
        n_train=len(train),
        fit={
            "level": k / n_masks,
            "masks": n_masks,
            "region_pixels": int(region.sum()),
            "train_r": float(r[k - 1]),
            "slope": slope,
            "intercept": intercept,
        },
    )


def agatston_rule(prepared: Prepared, problem: str, agatston_kw: dict) -> Baseline:
    """Agatston score and volume of every voxel >= 130 HU in the ROI; no training."""
    if prepared.spatial_dims != 3 or not reports_agatston(prepared):
        raise BaselineError(
            f"problem {problem}, baseline rule 'agatston': needs 3D images with a reference "
            "Agatston score for every case (cases.tsv column agatston)"
        )
    test = prepared.indices("test")
    scores, masks = [], []
    for index in test:
        image = window(prepared, prepared.images, index)
        mask = image >= biomarkers.AGATSTON_THRESHOLD_HU
        scores.append(biomarkers.agatston(image, mask, prepared.spacing(index), **agatston_kw))
        masks.append(mask)
    masks = np.stack(masks).astype(np.uint8)
    volumes = masks.reshape(len(test), -1).sum(axis=1) * voxel_sizes(prepared, test)
    return Baseline(
        values=volumes.astype(float),
        masks=masks,
        target="agatston",
        n_train=0,
        fit={"threshold_hu": biomarkers.AGATSTON_THRESHOLD_HU},
        agatston=np.asarray(scores, float),
    )


def smoothed_candidates(prepared: Prepared, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(Gaussian-smoothed HU (SMOOTHING_PX), candidate mask) of one case in the window."""
    image = window(prepared, prepared.images, index).astype(np.float32)
    smooth = ndimage.gaussian_filter(image, SMOOTHING_PX)
    return smooth, window(prepared, prepared.candidates, index) > 0


def threshold_measures(
    values: list[np.ndarray], thresholds: np.ndarray, sizes: np.ndarray
) -> dict[str, np.ndarray]:
    """{"below": (k, N), "above": (k, N)} candidate measure of each case whose smoothed HU is
    <= (>=) each threshold; ``values`` holds each case's smoothed HU at its candidates."""
    below, above = [], []
    for v in values:
        v = np.sort(v)
        below.append(np.searchsorted(v, thresholds, side="right"))
        above.append(v.size - np.searchsorted(v, thresholds, side="left"))
    return {
        "below": np.asarray(below, float).T * sizes,
        "above": np.asarray(above, float).T * sizes,
    }


def threshold_rule(prepared: Prepared, problem: str) -> Baseline:
    """Candidates below (or above) a smoothed-HU threshold chosen on training by r."""
    what = f"problem {problem}, baseline rule 'threshold'"
    train, target = training_values(prepared)
    values = []
    for index in train:
        smooth, cand = smoothed_candidates(prepared, index)
        values.append(smooth[cand])
    pooled = np.concatenate(values) if values else np.zeros(0)
    if pooled.size == 0:
        raise BaselineError(f"{what}: the training cases have no candidate pixels")
    thresholds = np.unique(np.quantile(pooled, THRESHOLD_QUANTILES))
    measures = threshold_measures(values, thresholds, voxel_sizes(prepared, train))
    r = {side: pearson_rows(m, target) for side, m in measures.items()}
    sides = list(measures)
    best = best_row(np.concatenate([r[s] for s in sides]), what)
    side, k = sides[best // thresholds.size], best % thresholds.size
    slope, intercept = fit_linear(measures[side][k], target, what)
    test = prepared.indices("test")
    masks = []
    for index in test:
        smooth, cand = smoothed_candidates(prepared, index)
        chosen = smooth <= thresholds[k] if side == "below" else smooth >= thresholds[k]
        masks.append(cand & chosen)
    masks = np.stack(masks).astype(np.uint8)
    test_measure = masks.reshape(len(test), -1).sum(axis=1) * voxel_sizes(prepared, test)
    return Baseline(
        values=calibrate(test_measure, slope, intercept),
        masks=masks,
        target="value",
        n_train=len(train),
        fit={
            "side": side,
            "threshold_hu": float(thresholds[k]),
            "smoothing_px": SMOOTHING_PX,
            "train_r": float(r[side][k]),
            "slope": slope,
            "intercept": intercept,
        },
    )


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
    what = f"problem {problem}, baseline heart-rule"
    if prepared.spatial_dims != 3 or not reports_agatston(prepared):
        raise BaselineError(
            f"{what}: needs 3D images with a reference Agatston score for every case "
            "(cases.tsv column agatston)"
        )
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
    masks = np.stack(masks).astype(np.uint8)
    volumes = masks.reshape(len(test), -1).sum(axis=1) * voxel_sizes(prepared, test)
    return Baseline(
        values=volumes.astype(float),
        masks=masks,
        target="agatston",
        n_train=fitted,
        fit={
            "margin_mm": margin if fitted else None,
            "margins_mm": HEART_MARGINS_MM.tolist(),
            "train_mae_agatston": float(errors[k] / fitted) if fitted else None,
            "train_cases_with_heart": fitted,
            "test_cases_whole_roi": from_roi,
            "threshold_hu": biomarkers.AGATSTON_THRESHOLD_HU,
            **lesion_kw,
        },
        agatston=np.asarray(scores, float),
    )


def skin_depths(image: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """Per pixel, its Euclidean distance (mm) to the nearest pixel outside the body (0 outside):
    body = largest connected component of image > BODY_HU, holes filled."""
    labels, n = ndimage.label(image > BODY_HU)
    if n == 0:
        return np.zeros(image.shape)
    sizes = np.bincount(labels.ravel())[1:]
    body = ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))
    return ndimage.distance_transform_edt(body, sampling=spacing)


def candidate_depths(prepared: Prepared, index: int) -> np.ndarray:
    """Depth under the skin (mm) of the case's candidate pixels inside the body, sorted."""
    image = window(prepared, prepared.images, index).astype(float)
    depth = skin_depths(image, prepared.spacing(index))
    cand = window(prepared, prepared.candidates, index) > 0
    return np.sort(depth[cand & (depth > 0)])


def skin_rule(prepared: Prepared, problem: str) -> Baseline:
    """Candidates within a distance of the skin, the distance fitted on training."""
    what = f"problem {problem}, baseline skin-rule"
    if prepared.spatial_dims != 2 or "mask" in prepared.meta.get("candidates", {}):
        raise BaselineError(
            f"{what}: needs 2D images with HU-range candidates and no candidate mask"
        )
    train, target = training_values(prepared)
    depths = [candidate_depths(prepared, i) for i in train]
    deepest = max((d[-1] for d in depths if d.size), default=0.0)
    if deepest == 0:
        raise BaselineError(f"{what}: the training cases have no candidate pixels in the body")
    step = min(min(prepared.spacing(i)) for i in train)
    grid = step * np.arange(1, int(np.ceil(deepest / step - 1e-9)) + 1)
    tolerance = 1e-6 * step  # a pixel exactly at a grid distance is within it
    sizes = voxel_sizes(prepared, train)
    measures = np.stack(
        [
            np.searchsorted(d, grid + tolerance, side="right") * a
            for d, a in zip(depths, sizes, strict=True)
        ]
    )
    mse = ((measures - target[:, None]) ** 2).mean(axis=0)
    k = int(np.argmin(mse))
    distance = float(grid[k])
    test = prepared.indices("test")
    masks = []
    for index in test:
        image = window(prepared, prepared.images, index).astype(float)
        depth = skin_depths(image, prepared.spacing(index))
        cand = window(prepared, prepared.candidates, index) > 0
        masks.append(cand & (depth > 0) & (depth <= distance + tolerance))
    masks = np.stack(masks).astype(np.uint8)
    values = masks.reshape(len(test), -1).sum(axis=1) * voxel_sizes(prepared, test)
    r = pearson_r(measures[:, k], target)
    return Baseline(
        values=values.astype(float),
        masks=masks,
        target="value",
        n_train=len(train),
        fit={
            "distance_mm": distance,
            "step_mm": float(step),
            "train_rmse": float(np.sqrt(mse[k])),
            "train_r": float(r),
            "body_hu": BODY_HU,
        },
    )


def compute(
    prepared: Prepared,
    problem: str,
    baseline: str,
    rule: str | None = None,
    agatston_kw: dict | None = None,
) -> Baseline:
    """The named baseline of one prepared problem (``rule``: the problem's configured rule)."""
    if baseline not in BASELINES:
        raise BaselineError(f"unknown baseline {baseline!r}; known: {', '.join(BASELINES)}")
    if baseline == "candidates":
        return candidates_baseline(prepared, problem)
    if baseline == "heart-rule":
        return heart_rule(prepared, problem, agatston_kw or {})
    if baseline == "skin-rule":
        return skin_rule(prepared, problem)
    if rule not in RULES:
        raise BaselineError(
            f"problem {problem}: baseline 'rule' needs config key problems.{problem}.baselines."
            f"rule, one of {', '.join(RULES)} (got {rule!r})"
        )
    if rule == "region":
        return region_rule(prepared, problem)
    if rule == "agatston":
        return agatston_rule(prepared, problem, agatston_kw or {})
    return threshold_rule(prepared, problem)


# --- outputs -----------------------------------------------------------------------------------


def predictions_table(
    prepared: Prepared, result: Baseline, agatston_kw: dict, risk_scheme: str
) -> pd.DataFrame:
    """predictions.tsv with predict's columns: case_id, subject_id, index, reference,
    prediction, (with reference Agatston scores: reference/predicted volume, Agatston and risk
    group), has_mask, map (empty: a baseline writes no NIfTI maps)."""
    test = prepared.indices("test")
    cases = prepared.cases.loc[test]
    table = cases[["case_id", "subject_id", "index"]].reset_index(drop=True)
    reference = cases["value"].astype(float).to_numpy()
    if reports_agatston(prepared):
        scores = result.agatston
        if scores is None:  # a rule's mask scored as predict scores an RL model's
            scores = np.asarray(
                [
                    biomarkers.agatston(
                        window(prepared, prepared.images, i),
                        result.masks[k],
                        prepared.spacing(i),
                        **agatston_kw,
                    )
                    for k, i in enumerate(test)
                ]
            )
        reference_agatston = cases["agatston"].astype(float).to_numpy()
        table["reference"] = reference_agatston
        table["prediction"] = scores
        table["reference_volume"] = reference
        table["predicted_volume"] = result.values
        table["reference_agatston"] = reference_agatston
        table["predicted_agatston"] = scores
        table["reference_group"] = biomarkers.risk_group(reference_agatston, risk_scheme)
        table["predicted_group"] = biomarkers.risk_group(np.asarray(scores), risk_scheme)
    else:
        table["reference"] = reference
        table["prediction"] = result.values
    table["has_mask"] = cases["has_mask"].to_numpy()
    table["map"] = ""
    return table


def fingerprint(problem: str, baseline: str, settings: dict) -> str:
    """Hash of what defines a baseline run (as a model run's fingerprint)."""
    body = json.dumps([problem, baseline, settings], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def run_baseline(
    prepared_dir: str | Path,
    problem: str,
    baseline: str,
    out_dir: str | Path,
    *,
    rule: str | None = None,
    agatston_kw: dict | None = None,
    risk_scheme: str = "paper",
) -> pd.DataFrame:
    """Compute one baseline on the test split; write predictions.tsv, localization.npy and
    run.json into ``out_dir`` (each atomically, after everything is computed)."""
    agatston_kw = agatston_kw or {}
    prepared = Prepared.load(prepared_dir)
    result = compute(prepared, problem, baseline, rule, agatston_kw)
    table = predictions_table(prepared, result, agatston_kw, risk_scheme)
    settings = {"rule": rule if baseline == "rule" else None, "agatston": agatston_kw}
    settings["risk_scheme"] = risk_scheme
    run = {
        "problem": problem,
        "model": baseline,
        "n": None,
        "rep": 0,
        "n_train": result.n_train,
        "fingerprint": fingerprint(problem, baseline, settings),
        "family": FAMILY,
        "target": result.target,
        "settings": settings,
        "fit": result.fit,
    }
    out_dir = Path(out_dir)
    atomic.save_npy(out_dir / "localization.npy", result.masks)
    localization.save_all(
        out_dir / "localizations.npz", {r: result.masks for r in localization.RULES}
    )
    tsv.write_table(out_dir / "predictions.tsv", table)
    atomic.write_json(out_dir / "run.json", run)
    return table
