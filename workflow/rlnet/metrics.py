"""Agreement and localisation metrics of the paper's Sec. II-F (Table II).

Regression: Pearson rho with its Fisher-z 95% CI (scipy, through :mod:`rlnet.correlation` and its
rule for an undefined r), ICC(A,1). Risk groups (CAC): linearly weighted Cohen's kappa over all
groups (statsmodels), accuracy. Localisation: Dice and the
(average) Hausdorff distance exactly as SimpleITK's ``HausdorffDistanceImageFilter`` defines them
(the average distance is the mean of the two directed mean distances).

Arrays are numpy (z, y, x) / (y, x); a spacing tuple is in mm in the same axis order (it is
reversed once, at the SimpleITK boundary). Undefined cases (an empty mask for Hausdorff, a kappa
whose chance agreement is 1, r of a constant) return NaN rather than raising, so that a metrics
rule never crashes on one bad prediction; aggregate with :func:`nan_summary`, which reports how
many were undefined.
"""

from collections.abc import Callable, Sequence

import numpy as np
import SimpleITK as sitk
from statsmodels.stats.inter_rater import cohens_kappa

from rlnet import correlation

#: Pixels kept around the bounding box of a | b before calling SimpleITK (distances unchanged).
CROP_MARGIN = 1


# --- validation -------------------------------------------------------------------------------


def _finite_1d(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` as a float 1D array; ValueError naming ``name`` if any value is NaN or inf."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1D, got shape {arr.shape}")
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise ValueError(f"{name} has {bad} non-finite value(s) (NaN or inf) of {arr.size}")
    return arr


def _paired(
    ref_name: str, reference: Sequence[float], pred_name: str, prediction: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    ref = _finite_1d(ref_name, reference)
    pred = _finite_1d(pred_name, prediction)
    if ref.size != pred.size:
        raise ValueError(f"length mismatch: {ref_name} has {ref.size}, {pred_name} {pred.size}")
    return ref, pred


def _groups(name: str, values: Sequence[int], n_groups: int) -> np.ndarray:
    """Integer group labels in [0, n_groups)."""
    arr = _finite_1d(name, values)
    if np.any(arr != np.round(arr)) or np.any((arr < 0) | (arr >= n_groups)):
        raise ValueError(
            f"{name} must hold integer groups in [0, {n_groups}), got {np.unique(arr)}"
        )
    return arr.astype(int)


def _mask(name: str, mask: np.ndarray) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has {int(np.count_nonzero(~np.isfinite(arr)))} non-finite values")
    return arr != 0


def _mask_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ma, mb = _mask("a", a), _mask("b", b)
    if ma.shape != mb.shape:
        raise ValueError(f"mask shapes differ: a {ma.shape}, b {mb.shape}")
    if ma.ndim not in (2, 3):
        raise ValueError(f"masks must be 2D (y, x) or 3D (z, y, x), got shape {ma.shape}")
    return ma, mb


# --- regression -------------------------------------------------------------------------------


def pearson(reference: Sequence[float], prediction: Sequence[float]) -> tuple[float, float, float]:
    """(r, low, high): Pearson r and its Fisher-z 95% CI, tanh(atanh r -+ 1.96 / sqrt(n - 3)),
    from ``scipy.stats.pearsonr(...).confidence_interval``.

    NaNs where r is undefined (fewer than 3 pairs or a constant input: the rule of
    :mod:`rlnet.correlation`); ValueError for unpaired or non-finite input. n = 3 gives the
    whole range (-1, 1) (the standard error of atanh r is infinite); |r| = 1 gives (r, r).
    """
    ref, pred = _paired("reference", reference, "prediction", prediction)
    result = correlation.pearsonr(ref, pred)
    if result is None:
        return float("nan"), float("nan"), float("nan")
    ci = result.confidence_interval(confidence_level=0.95)
    return float(result.statistic), float(ci.low), float(ci.high)


def icc_from_ratings(ratings: np.ndarray) -> float:
    """ICC(A,1) (McGraw & Wong 1996) = ICC(2,1) (Shrout & Fleiss 1979) of an n x k matrix.

    Two-way random effects, absolute agreement, single measure, from the two-way ANOVA mean
    squares of n targets (rows) by k raters (columns):
    (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n).
    """
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"ratings must be n_targets >= 2 by k_raters >= 2, got {x.shape}")
    _finite_1d("ratings", x.ravel())
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((x.mean(axis=0) - grand) ** 2)
    ss_err = np.sum((x - grand) ** 2) - ss_rows - ss_cols
    ms_rows, ms_cols = ss_rows / (n - 1), ss_cols / (k - 1)
    ms_err = ss_err / ((n - 1) * (k - 1))
    return float((ms_rows - ms_err) / (ms_rows + (k - 1) * ms_err + k * (ms_cols - ms_err) / n))


def icc(reference: Sequence[float], prediction: Sequence[float]) -> float:
    """ICC(A,1) of two raters (reference, prediction); see :func:`icc_from_ratings`."""
    ref, pred = _paired("reference", reference, "prediction", prediction)
    return icc_from_ratings(np.column_stack([ref, pred]))


# --- risk groups ------------------------------------------------------------------------------


def weighted_kappa(
    reference_groups: Sequence[int], predicted_groups: Sequence[int], n_groups: int = 5
) -> float:
    """Cohen's (1968) kappa with linear agreement weights 1 - |i - j| / (n_groups - 1), by
    statsmodels ``cohens_kappa(table, wt="linear")``.

    The n_groups x n_groups confusion table always spans every group, so an absent group keeps
    its place on the scale. NaN when chance agreement is 1 (both raters use one single group).
    """
    ref = _groups("reference_groups", reference_groups, n_groups)
    pred = _groups("predicted_groups", predicted_groups, n_groups)
    if ref.size != pred.size:
        raise ValueError(f"length mismatch: reference {ref.size}, predicted {pred.size}")
    if ref.size == 0:
        raise ValueError("weighted_kappa needs at least one subject")
    if np.unique(np.concatenate([ref, pred])).size == 1:
        return float("nan")
    table = np.zeros((n_groups, n_groups))
    np.add.at(table, (ref, pred), 1.0)
    return float(cohens_kappa(table, wt="linear", return_results=False))


def risk_accuracy(reference_groups: Sequence[int], predicted_groups: Sequence[int]) -> float:
    """Fraction of subjects assigned to the reference risk group."""
    ref, pred = _paired("reference_groups", reference_groups, "predicted_groups", predicted_groups)
    if ref.size == 0:
        raise ValueError("risk_accuracy needs at least one subject")
    return float(np.mean(ref == pred))


# --- localisation -----------------------------------------------------------------------------


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice 2|a & b| / (|a| + |b|) of two masks (nonzero = foreground); 1.0 if both are empty."""
    ma, mb = _mask_pair(a, b)
    total = np.count_nonzero(ma) + np.count_nonzero(mb)
    return 1.0 if total == 0 else 2.0 * np.count_nonzero(ma & mb) / total


def pooled_dice(inter: Sequence[int], n_pred: Sequence[int], n_ref: Sequence[int]) -> float:
    """Dice of masks pooled over several images, from per-image counts (intersection,
    predicted and reference foreground): 2 sum(inter) / (sum(n_pred) + sum(n_ref)); 1.0 if all
    are empty, as :func:`dice`."""
    total = float(np.sum(n_pred)) + float(np.sum(n_ref))
    return 1.0 if total == 0 else 2.0 * float(np.sum(inter)) / total


def _sitk_hausdorff(a: np.ndarray, b: np.ndarray, spacing: Sequence[float]) -> tuple[float, float]:
    """SimpleITK's Hausdorff and average Hausdorff distance of two non-empty boolean masks."""
    images = [sitk.GetImageFromArray(m.astype(np.uint8)) for m in (a, b)]
    for image in images:
        image.SetSpacing([float(s) for s in reversed(spacing)])
    hd = sitk.HausdorffDistanceImageFilter()
    hd.Execute(*images)
    return hd.GetHausdorffDistance(), hd.GetAverageHausdorffDistance()


def _crop_to_union(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop both masks to the bounding box of a | b plus CROP_MARGIN pixels (clipped to the image).

    Foreground coordinates only shift by a common offset, so all distances are unchanged.
    """
    union = a | b
    box = []
    for axis in range(union.ndim):
        other = tuple(ax for ax in range(union.ndim) if ax != axis)
        hits = np.flatnonzero(union.any(axis=other))
        lo = max(int(hits[0]) - CROP_MARGIN, 0)
        hi = min(int(hits[-1]) + 1 + CROP_MARGIN, union.shape[axis])
        box.append(slice(lo, hi))
    window = tuple(box)
    return a[window], b[window]


def hausdorff(a: np.ndarray, b: np.ndarray, spacing: Sequence[float]) -> tuple[float, float]:
    """(Hausdorff, average Hausdorff) distance in mm, as SimpleITK's HausdorffDistanceImageFilter.

    For each foreground pixel of a, the Euclidean distance (mm, from ``spacing`` in array-axis
    order) to the nearest foreground pixel of b; Hausdorff = the largest such distance in either
    direction; average Hausdorff = the mean of the two directed averages (a->b and b->a).
    Masks are cropped to their joint bounding box first (same distances, much faster).
    If either mask is empty the distances are undefined and (nan, nan) is returned.
    """
    ma, mb = _mask_pair(a, b)
    if len(spacing) != ma.ndim or any(s <= 0 for s in spacing):
        raise ValueError(f"spacing {tuple(spacing)} must give {ma.ndim} positive values")
    if not ma.any() or not mb.any():
        return float("nan"), float("nan")
    return _sitk_hausdorff(*_crop_to_union(ma, mb), spacing)


def hausdorff_px(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """:func:`hausdorff` in pixels (unit spacing), the unit the paper's Table II reports."""
    return hausdorff(a, b, (1.0,) * np.ndim(a))


def nan_summary(values: Sequence[float]) -> dict[str, float | int]:
    """Mean and SD over the defined (finite) values, with counts of all and undefined cases."""
    arr = np.asarray(values, dtype=float)
    finite = arr[np.isfinite(arr)]
    return {
        "mean": float(finite.mean()) if finite.size else float("nan"),
        "std": float(finite.std(ddof=1)) if finite.size > 1 else float("nan"),
        "n": int(arr.size),
        "n_undefined": int(arr.size - finite.size),
    }


# --- uncertainty ------------------------------------------------------------------------------


def bootstrap_replicates(
    statistic: Callable[..., float],
    *arrays: Sequence[float],
    groups: Sequence[object] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """(n_boot,) values of ``statistic(*arrays)`` on bootstrap resamples of subjects.

    ``groups`` gives each row's subject id: a resample draws subjects with replacement and takes
    all rows of each drawn subject together (a cluster bootstrap; rows are independent subjects
    when None). Seeded with ``numpy.random.default_rng(seed)``: the same seed, subjects and row
    order draw the same resamples, so replicates of several runs on one test set pair up.
    """
    if not arrays:
        raise ValueError("bootstrap_replicates needs at least one array")
    data = [np.asarray(arr) for arr in arrays]
    n_rows = len(data[0])
    if any(len(arr) != n_rows for arr in data):
        raise ValueError(f"length mismatch: arrays have lengths {[len(arr) for arr in data]}")
    ids = np.arange(n_rows) if groups is None else np.asarray(groups)
    if len(ids) != n_rows:
        raise ValueError(f"length mismatch: groups has {len(ids)}, arrays {n_rows}")
    if n_boot < 1:
        raise ValueError(f"need n_boot >= 1, got {n_boot}")
    _, subject_of_row = np.unique(ids, return_inverse=True)
    rows_of = np.split(
        np.argsort(subject_of_row, kind="stable"), np.cumsum(np.bincount(subject_of_row))[:-1]
    )
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for i in range(n_boot):
        drawn = rng.integers(0, len(rows_of), size=len(rows_of))
        rows = np.concatenate([rows_of[s] for s in drawn])
        stats[i] = statistic(*(arr[rows] for arr in data))
    return stats


def percentile_ci(replicates: Sequence[float], alpha: float = 0.05) -> tuple[float, float]:
    """Percentile (1 - alpha) interval of bootstrap replicates (NaN if any replicate is)."""
    if not 0 < alpha < 1:
        raise ValueError(f"need 0 < alpha < 1, got {alpha}")
    low, high = np.quantile(np.asarray(replicates, dtype=float), [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)
