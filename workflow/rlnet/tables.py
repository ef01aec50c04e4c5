"""Table II of the paper from the metrics records (rlnet.evaluate); Tables III and IV are
:mod:`rlnet.pairwise`, the supplementary tables :mod:`rlnet.supplementary`.

Table II: every metric of every model per problem (TSV long format + Markdown + LaTeX), one row
per (problem, model, metric). ``value`` is the test-set estimate: one run's, or for a model
trained several times (config ``evaluation.repeats``) the mean over its runs. ``ci_low`` and
``ci_high`` are the 95% percentile bootstrap interval over test subjects *of that value*: for
several runs, the bootstrap of the mean over runs, every run's metric computed on the same
resampled subjects (rlnet.evaluate keeps each run's replicates and a key of the resamples). The
interval covers the test-set sampling only; ``sd_runs``, ``min_runs`` and ``max_runs`` give the
spread between training runs (``runs`` of them), which it does not cover. ``budget_runs``
counts the runs that the epoch budget ended rather than early stopping (run.json
``stopped_by``): models that may not have converged, named under the table.
Problems appear in the order of the records given (the config's order).
"""

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from rlnet import metrics
from rlnet.model_registry import BASELINES, MODEL_LABELS, in_table_order

#: Table II rows: metric key in the metrics JSON -> label (rlnet.evaluate defines them).
METRIC_LABELS: dict[str, str] = {
    "rho": "ρ",
    "rho_patient": "ρ (per patient)",
    "icc": "ICC",
    "dice": "d",
    "dice_area": "d (area rule)",
    "dice_threshold": "d (map > 0.5)",
    "dice_all": "d (all cases)",
    "dice_patient": "d (per patient)",
    "avg_hausdorff_px": "dH (px)",
    "avg_hausdorff_mm": "dH (mm)",
    "kappa": "κ",
    "accuracy": "acc",
    "agatston_fp": "Agatston, calcium-free scans",
    "calcium_free_empty": "calcium-free scans predicted 0",
}
#: The same labels in LaTeX.
LATEX_METRIC_LABELS: dict[str, str] = {
    "rho": r"$\rho$",
    "rho_patient": r"$\rho$ (per patient)",
    "icc": "ICC",
    "dice": "$d$",
    "dice_area": "$d$ (area rule)",
    "dice_threshold": "$d$ (map $> 0.5$)",
    "dice_all": "$d$ (all cases)",
    "dice_patient": "$d$ (per patient)",
    "avg_hausdorff_px": r"$d_H$ (px)",
    "avg_hausdorff_mm": r"$d_H$ (mm)",
    "kappa": r"$\kappa$",
    "accuracy": "acc",
    "agatston_fp": "Agatston, calcium-free scans",
    "calcium_free_empty": "calcium-free scans predicted 0",
}
#: Table II columns.
TABLE2_COLUMNS = [
    "problem",
    "model",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "runs",
    "sd_runs",
    "min_runs",
    "max_runs",
    "budget_runs",
]
#: What Table II's interval covers (the renderings' note).
CI_NOTE = (
    "[95% CI]: percentile bootstrap over test subjects of the value shown (for several runs, "
    "of their mean, every run scored on the same resampled subjects): the test-set sampling, "
    "not the spread between training runs."
)


def _long(records: Sequence[dict]) -> pd.DataFrame:
    """One row per (record, metric): problem, model, rep, metric, value, ci_low, ci_high, n,
    bootstrap (the replicates, or None), resample (their key, or None), stopped_by (the
    run's, or None)."""
    rows = [
        {
            "problem": record["problem"],
            "model": record["model"],
            "rep": int(record.get("rep", 0)),
            "metric": metric,
            "value": entry["value"],
            "ci_low": entry["ci_low"],
            "ci_high": entry["ci_high"],
            "n": entry["n"],
            "bootstrap": entry.get("bootstrap"),
            "resample": entry.get("resample"),
            "stopped_by": record.get("stopped_by"),
        }
        for record in records
        for metric, entry in record["metrics"].items()
    ]
    return pd.DataFrame(rows)


def mean_ci(runs: pd.DataFrame) -> tuple[float, float]:
    """95% percentile CI of the mean over runs: the replicate-wise mean of the runs' bootstrap
    replicates, which must come from the same resamples (equal ``resample`` keys); ValueError
    naming the metric otherwise."""
    what = "problem {}, model {}, metric {}".format(*runs.iloc[0][["problem", "model", "metric"]])
    keys = set(runs["resample"])
    if None in keys or any(b is None for b in runs["bootstrap"]):
        raise ValueError(f"{what}: a run's metrics have no bootstrap replicates; rerun metrics")
    if len(keys) != 1:
        raise ValueError(f"{what}: the runs' bootstrap resamples differ (keys {sorted(keys)})")
    replicates = np.asarray(runs["bootstrap"].tolist(), dtype=float)
    return metrics.percentile_ci(replicates.mean(axis=0))


def aggregate_repeats(long: pd.DataFrame) -> pd.DataFrame:
    """Per (problem, model, metric): value = mean over runs (one run: its value) with the CI of
    that mean (:func:`mean_ci`; one run: its own), n, runs, sd_runs (ddof 1; NaN for one run),
    min_runs, max_runs. A run whose value is undefined (NaN) makes the mean NaN: a failed run
    is not averaged away."""
    keys = ["problem", "model", "metric"]
    duplicated = long.duplicated(keys + ["rep"])
    if duplicated.any():
        first = long.loc[duplicated, keys + ["rep"]].iloc[0].tolist()
        raise ValueError(f"two metrics records for problem, model, metric, repeat {first}")
    rows = []
    for key, runs in long.sort_values("rep", kind="stable").groupby(keys, sort=False):
        values = runs["value"].astype(float)
        several = len(runs) > 1
        low, high = mean_ci(runs) if several else (runs["ci_low"].iloc[0], runs["ci_high"].iloc[0])
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "value": values.mean(skipna=False),
                "ci_low": low,
                "ci_high": high,
                "n": runs["n"].iloc[0],
                "runs": len(runs),
                "sd_runs": values.std(ddof=1, skipna=False) if several else np.nan,
                "min_runs": values.min(skipna=False),
                "max_runs": values.max(skipna=False),
                "budget_runs": int((runs["stopped_by"] == "budget").sum()),
            }
        )
    return pd.DataFrame(rows)


def table2(records: Sequence[dict]) -> pd.DataFrame:
    """Long table: TABLE2_COLUMNS, one row per number (module docstring)."""
    table = aggregate_repeats(_long(records))
    problems = list(dict.fromkeys(record["problem"] for record in records))
    table["_p"] = table["problem"].map(problems.index)
    table["_m"] = table["model"].map(list(MODEL_LABELS).index)
    table["_k"] = table["metric"].map(list(METRIC_LABELS).index)
    return (
        table.sort_values(["_p", "_k", "_m"])
        .drop(columns=["_p", "_m", "_k"])
        .reset_index(drop=True)[TABLE2_COLUMNS]
    )


def localization_rule(records: Sequence[dict]) -> str | None:
    """The localization rule (``evaluation.localization``) the records' ``d`` was scored with,
    None when they do not say."""
    rules = {record.get("localization") for record in records} - {None}
    return rules.pop() if len(rules) == 1 else None


def _cell(row: pd.Series, digits: int = 3) -> str:
    """value [CI], with the runs' sd and range for a model trained several times; n/a if
    undefined."""
    if not math.isfinite(row["value"]):
        return "n/a"
    text = f"{row['value']:.{digits}f} [{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"
    if row["runs"] > 1:
        spread = f"{row['min_runs']:.{digits}f} to {row['max_runs']:.{digits}f}"
        text += f"; sd {row['sd_runs']:.{digits}f} ({spread})"
    return text


def notes(table: pd.DataFrame, rule: str | None = None) -> list[str]:
    """The lines under Table II: what the interval covers, which models are means over runs,
    which columns learn nothing, which rule made ``d``."""
    lines = [CI_NOTE]
    repeated = table[table["runs"] > 1].drop_duplicates(["model", "runs"])
    if not repeated.empty:
        runs = ", ".join(
            f"{MODEL_LABELS[m]}: {k}"
            for m, k in zip(repeated["model"], repeated["runs"], strict=True)
        )
        lines.append(
            f"Mean over training runs ({runs}) [its 95% CI]; sd (min to max): the spread over runs."
        )
    free = [MODEL_LABELS[m] for m in in_table_order(set(table["model"]) & set(BASELINES))]
    if free:
        lines.append(
            f"No learning, fitted on the training split only: {', '.join(free)}; "
            "Baseline is the paper's trained CNN."
        )
    budget = budget_note(table)
    if budget:
        lines.append(budget)
    if rule:
        lines.append(f"d: the localization masks of the {rule!r} rule (evaluation.localization).")
    return lines


def budget_note(table: pd.DataFrame) -> str:
    """The models whose training the epoch budget ended (``budget_runs`` > 0), with their
    count of runs; "" when every run stopped early."""
    hit = table[table["budget_runs"] > 0].drop_duplicates(["problem", "model"])
    if hit.empty:
        return ""
    named = ", ".join(
        f"{p} {MODEL_LABELS[m]} ({k} of {n} runs)"
        for p, m, k, n in zip(
            hit["problem"], hit["model"], hit["budget_runs"], hit["runs"], strict=True
        )
    )
    return (
        f"Stopped by the epoch budget, not by early stopping (training.max_epochs; may not "
        f"have converged): {named}."
    )


def _wide(table: pd.DataFrame) -> tuple[list[str], list[tuple[str, str, dict[str, str]]]]:
    models = in_table_order(table["model"].unique())
    body = []
    for (problem, metric), group in table.groupby(["problem", "metric"], sort=False):
        digits = 2 if metric.startswith("avg_hausdorff") or metric == "agatston_fp" else 3
        cells = {row["model"]: _cell(row, digits) for _, row in group.iterrows()}
        body.append((problem, metric, cells))
    return models, body


def to_markdown(table: pd.DataFrame, rule: str | None = None) -> str:
    """Table II as a Markdown table: rows problem x metric, columns models (value [95% CI]),
    then :func:`notes`."""
    models, body = _wide(table)
    header = "| problem | metric | " + " | ".join(MODEL_LABELS[m] for m in models) + " |"
    lines = [header, "|" + "---|" * (len(models) + 2)]
    for problem, metric, cells in body:
        values = " | ".join(cells.get(m, "") for m in models)
        lines.append(f"| {problem.upper()} | {METRIC_LABELS[metric]} | {values} |")
    return "\n".join([*lines, "", *notes(table, rule)]) + "\n"


def to_latex(table: pd.DataFrame, rule: str | None = None) -> str:
    """Table II as a LaTeX tabular (booktabs), ready for a manuscript; the notes as comments."""
    models, body = _wide(table)
    lines = [
        r"\begin{tabular}{ll" + "c" * len(models) + "}",
        r"\toprule",
        "Problem & Metric & " + " & ".join(MODEL_LABELS[m] for m in models) + r" \\",
        r"\midrule",
    ]
    for problem, metric, cells in body:
        values = " & ".join(cells.get(m, "--") for m in models)
        lines.append(f"{problem.upper()} & {LATEX_METRIC_LABELS[metric]} & {values} " + r"\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += ["% " + note for note in notes(table, rule)]
    return "\n".join(lines) + "\n"


def read_records(paths: Sequence[str | Path]) -> list[dict]:
    """Metrics JSONs."""
    return [json.loads(Path(p).read_text()) for p in paths]
