"""The baselines that measure candidates (:mod:`rlnet.baselines` describes each): the
calibrated candidate measure (``candidates``), the ``rule`` baselines ``region`` and
``threshold``, and the ``skin-rule``."""

import numpy as np
from scipy import ndimage

from rlnet.baseline_fit import (
    Baseline,
    BaselineError,
    best_row,
    calibrate,
    fit_linear,
    pearson_rows,
    reports_agatston,
    training_values,
    voxel_sizes,
    window,
)
from rlnet.correlation import pearson_r
from rlnet.prepare import Prepared

#: Gaussian smoothing SD of the threshold rule, pixels (one pixel: noise down, edges kept).
SMOOTHING_PX = 1.0
#: Quantiles of the training candidates' smoothed HU tried as thresholds (1%, 2%, ..., 99%).
THRESHOLD_QUANTILES = np.linspace(0.01, 0.99, 99)
#: Voxels above this HU belong to the body (air and lung below; the lungs are holes filled).
BODY_HU = -500.0


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
