"""Metrics of one trained model on its test set, with confidence intervals.

Writes a JSON (the model's identity, n, and every metric as {value, ci_low, ci_high, n,
bootstrap, resample}) and a per-case TSV (reference, prediction, Dice, Hausdorff) that the
statistical tests compare. Localization metrics are computed in network-input space (the padded
slice or the centre ROI), where the binarised localization and the cropped reference mask share
pixels.

Every CI is a percentile bootstrap over test subjects (all of a subject's cases drawn together:
a cluster bootstrap where a subject has several cases). It covers the sampling of the test set
for this one trained run, not the spread between training runs. ``bootstrap`` keeps the
replicates and ``resample`` a key of the resamples drawn (seed, count, subjects in row order):
runs on one test set draw the same resamples, so Table II can bootstrap the mean over runs
(rlnet.tables).

Metrics that cannot flatter:
    dice, avg_hausdorff_*  over the cases whose reference mask is not empty (n counts them): an
                           empty reference scores Dice 1 for any empty prediction (cac: most
                           calcium-free cases), which says nothing about localization.
    dice_all               Dice over every case with a mask, empty references included; written
                           only when some reference is empty (otherwise it equals dice).
    rho_patient            Pearson r of the per-subject sums of reference and prediction, and
    dice_patient           the mean over subjects of the Dice of their pooled pixels (subjects with
                           an empty pooled reference left out); written only when a subject has
                           several test cases (liver: slices of one patient).
    dice_<rule>            Dice (cases with a non-empty reference) of the localization binarised
                           by the other rule of ``rlnet.localization`` than the configured one
                           (``dice_threshold``: the paper's map > 0.5 beside the default
                           ``area``), from localizations.npz.
    agatston_fp            Agatston problems: the mean predicted Agatston score of the scans whose
    calcium_free_empty     reference score is 0, and the share of them predicted 0 (no calcium
                           found); written when the test split has calcium-free scans.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from rlnet import atomic, correlation, metrics, tsv
from rlnet.localization import RULES
from rlnet.prepare import Prepared


class PredictionError(ValueError):
    """Predictions that cannot be evaluated; the message names the file."""


def load_predictions(path: str | Path, prepared: Prepared) -> pd.DataFrame:
    """Read predictions.tsv and check it against the prepared test set."""
    table = tsv.read_table(path, required=("case_id", "subject_id", "reference", "prediction"))
    for column in ("reference", "prediction"):
        bad = table.loc[~np.isfinite(table[column].astype(float)), "case_id"].tolist()
        if bad:
            raise PredictionError(f"{path}: non-finite {column} for case(s) {bad[:5]}")
    expected = set(prepared.cases.loc[prepared.cases["split"] == "test", "case_id"])
    found = set(table["case_id"])
    if found != expected:
        extra, missing = sorted(found - expected)[:5], sorted(expected - found)[:5]
        raise PredictionError(
            f"{path}: case ids do not match the test set (unexpected {extra}, missing {missing})"
        )
    return table


def resample_key(groups: np.ndarray, n_boot: int, seed: int) -> str:
    """Key of the bootstrap resamples ``metrics.bootstrap_replicates`` draws for these subject
    ids (in row order), resample count and seed: equal keys, equal resamples."""
    body = json.dumps([[str(g) for g in groups], int(n_boot), int(seed)])
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _estimate(
    value: float, statistic, arrays: tuple, groups: np.ndarray | None, n_boot: int, seed: int
) -> dict:
    """{value, ci_low, ci_high, n, bootstrap, resample}: the value, the 95% percentile CI of
    ``statistic(*arrays)`` over subject resamples (rows are subjects when ``groups`` is None),
    its replicates and their resample key."""
    n = len(arrays[0])
    ids = np.arange(n) if groups is None else np.asarray(groups)
    replicates = metrics.bootstrap_replicates(
        statistic, *arrays, groups=ids, n_boot=n_boot, seed=seed
    )
    low, high = metrics.percentile_ci(replicates)
    return {
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "n": n,
        "bootstrap": [float(v) for v in replicates],
        "resample": resample_key(ids, n_boot, seed),
    }


def localization_metrics(
    predictions: pd.DataFrame, localization: np.ndarray, prepared: Prepared
) -> pd.DataFrame:
    """Per-case Dice, Hausdorff and average Hausdorff (mm and px) for cases with a mask."""
    region = prepared.region()
    rows = []
    for k, row in predictions.iterrows():
        if not int(row.get("has_mask", 0)):
            continue
        index = int(row["index"])
        reference = np.asarray(prepared.masks[index][region])
        predicted = localization[k]
        spacing = prepared.spacing(index)
        hd_mm, avg_mm = metrics.hausdorff(predicted, reference, spacing)
        hd_px, avg_px = metrics.hausdorff_px(predicted, reference)
        rows.append(
            {
                "case_id": row["case_id"],
                "dice": metrics.dice(predicted, reference),
                "inter": int(np.count_nonzero((predicted > 0) & (reference > 0))),
                "n_pred": int(np.count_nonzero(predicted)),
                "n_ref": int(np.count_nonzero(reference)),
                "hausdorff_mm": hd_mm,
                "avg_hausdorff_mm": avg_mm,
                "hausdorff_px": hd_px,
                "avg_hausdorff_px": avg_px,
            }
        )
    return pd.DataFrame(rows)


def _nan_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _mean_with_ci(
    values: np.ndarray, groups: np.ndarray | None, n_boot: int, seed: int
) -> dict[str, float | int]:
    """Mean over the defined values with a subject-bootstrap CI, n and the undefined count;
    NaN (no CI) when there is no value at all."""
    summary = metrics.nan_summary(values)
    if not len(values):
        nan = float("nan")
        return {"value": nan, "ci_low": nan, "ci_high": nan, "n": 0, "n_undefined": 0}
    entry = _estimate(summary["mean"], _nan_mean, (values,), groups, n_boot, seed)
    return {**entry, "n_undefined": summary["n_undefined"]}


def per_subject(per_case: pd.DataFrame) -> pd.DataFrame:
    """Per subject: sums of reference and prediction and, where the per-case table has the
    localization counts (inter, n_pred, n_ref, over cases with a mask), the pooled Dice."""
    subjects = per_case.groupby("subject_id", sort=True)[["reference", "prediction"]].sum()
    if "n_ref" in per_case:
        with_mask = per_case.dropna(subset=["n_ref"])
        counts = with_mask.groupby("subject_id", sort=True)[["inter", "n_pred", "n_ref"]].sum()
        counts["dice"] = [
            metrics.pooled_dice(row.inter, row.n_pred, row.n_ref) for row in counts.itertuples()
        ]
        subjects = subjects.join(counts[["n_ref", "dice"]])
    return subjects


def patient_metrics(per_case: pd.DataFrame, n_boot: int, seed: int) -> dict[str, dict]:
    """rho_patient (and dice_patient when there are localization counts) over subjects."""
    subjects = per_subject(per_case)
    ref = subjects["reference"].to_numpy(float)
    pred = subjects["prediction"].to_numpy(float)
    r, low, high = metrics.pearson(ref, pred)
    entry = _estimate(r, correlation.pearson_r, (ref, pred), None, n_boot, seed)
    out = {"rho_patient": {**entry, "fisher_ci_low": low, "fisher_ci_high": high}}
    if "dice" in subjects:
        positive = subjects[subjects["n_ref"] > 0]
        out["dice_patient"] = _mean_with_ci(positive["dice"].to_numpy(float), None, n_boot, seed)
    return out


def calcium_free_metrics(predictions: pd.DataFrame, n_boot: int, seed: int) -> dict[str, dict]:
    """agatston_fp and calcium_free_empty over the scans whose reference Agatston score is 0
    (none when the test split has no such scan)."""
    free = predictions[predictions["reference_agatston"].astype(float) == 0]
    if free.empty:
        return {}
    scores = free["predicted_agatston"].to_numpy(float)
    groups = free["subject_id"].to_numpy()
    empty = (scores == 0).astype(float)
    return {
        "agatston_fp": _estimate(float(scores.mean()), np.mean, (scores,), groups, n_boot, seed),
        "calcium_free_empty": _estimate(
            float(empty.mean()), np.mean, (empty,), groups, n_boot, seed
        ),
    }


def other_rule_dice(
    predictions: pd.DataFrame, localizations_path: str | Path, prepared: Prepared, rule: str
) -> tuple[str, pd.DataFrame] | None:
    """(metric name ``dice_<other rule>``, per-case Dice of the masks the other binarisation
    rule gives, from localizations.npz) for the cases with a mask; None without that file's
    masks (a direct regressor)."""
    other = next(r for r in RULES if r != rule)
    with np.load(localizations_path) as stored:
        if other not in stored.files:
            raise PredictionError(f"{localizations_path}: no {other!r} masks in it")
        masks = stored[other]
    if not masks.size:
        return None
    region = prepared.region()
    rows = [
        {
            "case_id": row["case_id"],
            f"dice_{other}": metrics.dice(masks[k], prepared.masks[int(row["index"])][region]),
        }
        for k, row in predictions.iterrows()
        if int(row.get("has_mask", 0))
    ]
    return f"dice_{other}", pd.DataFrame(rows)


def evaluate(
    predictions_path: str | Path,
    localization_path: str | Path,
    prepared_dir: str | Path,
    identity: dict,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    localizations_path: str | Path | None = None,
    localization_rule: str = "area",
) -> tuple[dict, pd.DataFrame]:
    """(metrics record, per-case table) of one model's test predictions.

    ``localization_path`` holds the masks of the configured rule (``localization_rule``), which
    ``dice`` and the Hausdorff distances score; ``localizations_path`` (optional) the masks of
    every rule, for ``dice_<other rule>``.
    """
    if localization_rule not in RULES:
        raise ValueError(f"unknown localization rule {localization_rule!r}; known: {RULES}")
    prepared = Prepared.load(prepared_dir)
    predictions = load_predictions(predictions_path, prepared)
    ref = predictions["reference"].to_numpy(float)
    pred = predictions["prediction"].to_numpy(float)
    subjects = predictions["subject_id"].to_numpy()
    n = len(predictions)
    record = {
        **identity,
        "n_test": n,
        "n_subjects": int(len(set(subjects))),
        "localization": localization_rule,
        "bootstrap": {"resamples": n_boot, "seed": seed, "unit": "subject"},
        "metrics": {},
    }
    r, low, high = metrics.pearson(ref, pred)
    record["metrics"]["rho"] = {
        **_estimate(r, correlation.pearson_r, (ref, pred), subjects, n_boot, seed),
        "fisher_ci_low": low,
        "fisher_ci_high": high,
    }
    record["metrics"]["icc"] = _estimate(
        metrics.icc(ref, pred), metrics.icc, (ref, pred), subjects, n_boot, seed
    )
    per_case = predictions[["case_id", "subject_id", "reference", "prediction"]].copy()
    if "reference_group" in predictions:
        groups_ref = predictions["reference_group"].to_numpy(int)
        groups_pred = predictions["predicted_group"].to_numpy(int)
        for name, statistic in (
            ("kappa", metrics.weighted_kappa),
            ("accuracy", metrics.risk_accuracy),
        ):
            record["metrics"][name] = _estimate(
                statistic(groups_ref, groups_pred),
                statistic,
                (groups_ref, groups_pred),
                subjects,
                n_boot,
                seed,
            )
        per_case["reference_group"], per_case["predicted_group"] = groups_ref, groups_pred
    if "reference_agatston" in predictions:
        record["metrics"].update(calcium_free_metrics(predictions, n_boot, seed))
    localization = np.load(localization_path, mmap_mode="r")
    if localization.size and predictions.get("has_mask", pd.Series(0)).astype(int).any():
        local = localization_metrics(predictions, localization, prepared)
        per_case = per_case.merge(local, on="case_id", how="left")
        other = None
        if localizations_path is not None:
            other = other_rule_dice(predictions, localizations_path, prepared, localization_rule)
        if other is not None:
            per_case = per_case.merge(other[1], on="case_id", how="left")
        with_mask = per_case.dropna(subset=["dice"])
        positive = with_mask[with_mask["n_ref"] > 0]
        names = ["dice", *([other[0]] if other else []), "avg_hausdorff_mm", "avg_hausdorff_px"]
        for name in names:
            values = positive[name].to_numpy(float)  # Hausdorff is NaN for an empty prediction
            groups = positive["subject_id"].to_numpy()
            record["metrics"][name] = _mean_with_ci(values, groups, n_boot, seed)
        if len(positive) < len(with_mask):
            values, groups = with_mask["dice"].to_numpy(float), with_mask["subject_id"].to_numpy()
            record["metrics"]["dice_all"] = _mean_with_ci(values, groups, n_boot, seed)
    if record["n_subjects"] < n:
        record["metrics"].update(patient_metrics(per_case, n_boot, seed))
    return record, per_case


def write(
    record: dict, per_case: pd.DataFrame, json_path: str | Path, cases_path: str | Path
) -> None:
    """Write the metrics JSON and the per-case TSV atomically."""
    atomic.write_json(json_path, record)
    tsv.write_table(cases_path, per_case)
