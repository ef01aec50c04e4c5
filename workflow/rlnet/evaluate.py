"""Metrics of one trained model on its test set, with confidence intervals.

Writes a JSON (the model's identity, n, and every metric as {value, ci_low, ci_high, n}) and a
per-case TSV (reference, prediction, Dice, Hausdorff) that the statistical tests compare.
Localization metrics are computed in network-input space (the padded slice or the centre ROI),
where the binarised localization and the cropped reference mask share pixels.

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
"""

from pathlib import Path

import numpy as np
import pandas as pd

from rlnet import io, metrics
from rlnet.prepare import Prepared


class PredictionError(ValueError):
    """Predictions that cannot be evaluated; the message names the file."""


def load_predictions(path: str | Path, prepared: Prepared) -> pd.DataFrame:
    """Read predictions.tsv and check it against the prepared test set."""
    table = io.read_table(path, required=("case_id", "subject_id", "reference", "prediction"))
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


def _with_ci(value: float, ci: tuple[float, float], n: int) -> dict:
    return {"value": value, "ci_low": ci[0], "ci_high": ci[1], "n": n}


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


def _pearson_or_nan(reference: np.ndarray, prediction: np.ndarray) -> tuple[float, float, float]:
    """metrics.pearson, or NaNs where r is undefined (a constant prediction from a collapsed
    model is a result to report, not a reason to stop the pipeline)."""
    try:
        return metrics.pearson(reference, prediction)
    except ValueError:
        return float("nan"), float("nan"), float("nan")


def _nan_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _mean_with_ci(
    values: np.ndarray, groups: np.ndarray | None, n_boot: int, seed: int
) -> dict[str, float | int]:
    """Mean over the defined values with a subject-bootstrap CI, n and the undefined count;
    NaN (no CI) when there is no value at all."""
    summary = metrics.nan_summary(values)
    ci = (float("nan"), float("nan"))
    if len(values):
        ci = metrics.bootstrap_ci(_nan_mean, values, groups=groups, n_boot=n_boot, seed=seed)
    return {**_with_ci(summary["mean"], ci, summary["n"]), "n_undefined": summary["n_undefined"]}


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
    r, low, high = _pearson_or_nan(ref, pred)
    ci = metrics.bootstrap_ci(
        lambda a, b: _pearson_or_nan(a, b)[0], ref, pred, n_boot=n_boot, seed=seed
    )
    out = {
        "rho_patient": {**_with_ci(r, ci, len(ref)), "fisher_ci_low": low, "fisher_ci_high": high}
    }
    if "dice" in subjects:
        positive = subjects[subjects["n_ref"] > 0]
        out["dice_patient"] = _mean_with_ci(positive["dice"].to_numpy(float), None, n_boot, seed)
    return out


def evaluate(
    predictions_path: str | Path,
    localization_path: str | Path,
    prepared_dir: str | Path,
    identity: dict,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[dict, pd.DataFrame]:
    """(metrics record, per-case table) of one model's test predictions."""
    prepared = Prepared.load(prepared_dir)
    predictions = load_predictions(predictions_path, prepared)
    ref = predictions["reference"].to_numpy(float)
    pred = predictions["prediction"].to_numpy(float)
    subjects = predictions["subject_id"].to_numpy()
    n = len(predictions)
    boot = {"groups": subjects, "n_boot": n_boot, "seed": seed}
    record = {**identity, "n_test": n, "n_subjects": int(len(set(subjects))), "metrics": {}}
    r, low, high = _pearson_or_nan(ref, pred)
    rho_ci = metrics.bootstrap_ci(lambda a, b: _pearson_or_nan(a, b)[0], ref, pred, **boot)
    record["metrics"]["rho"] = {
        **_with_ci(r, rho_ci, n),
        "fisher_ci_low": low,
        "fisher_ci_high": high,
    }
    record["metrics"]["icc"] = _with_ci(
        metrics.icc(ref, pred), metrics.bootstrap_ci(metrics.icc, ref, pred, **boot), n
    )
    per_case = predictions[["case_id", "subject_id", "reference", "prediction"]].copy()
    if "reference_group" in predictions:
        groups_ref = predictions["reference_group"].to_numpy(int)
        groups_pred = predictions["predicted_group"].to_numpy(int)
        record["metrics"]["kappa"] = _with_ci(
            metrics.weighted_kappa(groups_ref, groups_pred),
            metrics.bootstrap_ci(metrics.weighted_kappa, groups_ref, groups_pred, **boot),
            n,
        )
        record["metrics"]["accuracy"] = _with_ci(
            metrics.risk_accuracy(groups_ref, groups_pred),
            metrics.bootstrap_ci(metrics.risk_accuracy, groups_ref, groups_pred, **boot),
            n,
        )
        per_case["reference_group"], per_case["predicted_group"] = groups_ref, groups_pred
    localization = np.load(localization_path, mmap_mode="r")
    if localization.size and predictions.get("has_mask", pd.Series(0)).astype(int).any():
        local = localization_metrics(predictions, localization, prepared)
        per_case = per_case.merge(local, on="case_id", how="left")
        with_mask = per_case.dropna(subset=["dice"])
        positive = with_mask[with_mask["n_ref"] > 0]
        for name in ("dice", "avg_hausdorff_mm", "avg_hausdorff_px"):
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
    io.write_json(json_path, record)
    io.write_table(cases_path, per_case)
