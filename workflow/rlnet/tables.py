"""The paper's tables from metrics and per-case results.

Table II: every metric of every model per problem (TSV long format + Markdown + LaTeX), one row
per (problem, model, metric). ``value`` is the test-set estimate: one run's, or for a model
trained several times (config ``evaluation.repeats``) the mean over its runs. ``ci_low`` and
``ci_high`` are the 95% percentile bootstrap interval over test subjects *of that value*: for
several runs, the bootstrap of the mean over runs, every run's metric computed on the same
resampled subjects (rlnet.evaluate keeps each run's replicates and a key of the resamples). The
interval covers the test-set sampling only; ``sd_runs``, ``min_runs`` and ``max_runs`` give the
spread between training runs (``runs`` of them), which it does not cover.
Table III (per problem): every pair of models: Williams's test on rho, Wilcoxon's signed-rank
test on Dice (cases with a non-empty reference mask) and on the average Hausdorff distance (px),
paired by case, and the paper's Kruskal-Wallis then Dunn (unpaired) beside them; every family
of pairwise p-values (one test on one metric over all pairs) adjusted (``evaluation.p_adjust``,
Holm by default). Where a subject has several test cases (liver: slices of a patient) the tests
run on subjects, the independent units: per-subject sums of reference and prediction, the Dice
of the subject's pooled pixels, the mean Hausdorff distance of its slices.
Problems appear in the order of the records given (the config's order).
Table IV (per Agatston problem): Stuart-Maxwell on the risk groups of every pair of models,
adjusted as Table III.
Supplementary: an RL and a segmentation model per slice and per subject (the paper's liver
comparison; its tests are Table III's); the sample-size summary (Fig. 13).
"""

import itertools
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from rlnet import io, metrics, stats
from rlnet.labels import BASELINES, MODEL_LABELS

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
]
#: What Table II's interval covers (the renderings' note).
CI_NOTE = (
    "[95% CI]: percentile bootstrap over test subjects of the value shown (for several runs, "
    "of their mean, every run scored on the same resampled subjects): the test-set sampling, "
    "not the spread between training runs."
)


def _model_order(models: Sequence[str]) -> list[str]:
    return sorted(models, key=lambda m: list(MODEL_LABELS).index(m))


def _long(records: Sequence[dict]) -> pd.DataFrame:
    """One row per (record, metric): problem, model, rep, metric, value, ci_low, ci_high, n,
    bootstrap (the replicates, or None), resample (their key, or None)."""
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
        spread = f"{row['min_runs']:.{digits}f}-{row['max_runs']:.{digits}f}"
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
            f"Mean over training runs ({runs}) [its 95% CI]; sd (min-max): the spread over runs."
        )
    free = [MODEL_LABELS[m] for m in _model_order(set(table["model"]) & set(BASELINES))]
    if free:
        lines.append(
            f"No learning, fitted on the training split only: {', '.join(free)}; "
            "Baseline is the paper's trained CNN."
        )
    if rule:
        lines.append(f"d: the localization masks of the {rule!r} rule (evaluation.localization).")
    return lines


def _wide(table: pd.DataFrame) -> tuple[list[str], list[tuple[str, str, dict[str, str]]]]:
    models = _model_order(table["model"].unique())
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


def _aligned(cases: dict[str, pd.DataFrame], column: str) -> pd.DataFrame:
    """One column of every model's per-case table, aligned on case_id (inner join)."""
    frames = [
        t.set_index("case_id")[[column]].rename(columns={column: m}) for m, t in cases.items()
    ]
    return pd.concat(frames, axis=1, join="inner")


def _localized(table: pd.DataFrame) -> pd.DataFrame:
    """The per-case rows whose reference mask is not empty (all rows without ``n_ref``): an
    empty reference gives Dice 1 to any empty prediction."""
    return table[table["n_ref"] > 0] if "n_ref" in table else table


def _kw_pairs(cases: dict[str, pd.DataFrame], column: str, p_adjust: str, alpha: float):
    """(H, p, pairwise Dunn p or None when Kruskal-Wallis does not reject) over models."""
    groups = {
        m: _localized(t)[column].dropna().to_numpy(float) for m, t in cases.items() if column in t
    }
    groups = {m: v for m, v in groups.items() if v.size}
    if len(groups) < 2:
        return None, None, None
    h, p, pairwise = stats.kruskal_dunn(groups, None if p_adjust == "none" else p_adjust)
    return h, p, (pairwise if p < alpha else None)


def table3(
    cases: dict[str, pd.DataFrame], p_adjust: str = "holm", alpha: float = 0.05
) -> pd.DataFrame:
    """Every pair of models: Williams on rho; Dunn after Kruskal-Wallis on Dice and dH (px)."""
    models = _model_order(list(cases))
    cases = {m: cases[m] for m in models}
    reference = _aligned({m: cases[m] for m in models[:1]}, "reference").iloc[:, 0]
    predictions = _aligned(cases, "prediction")
    reference = reference.loc[predictions.index]
    tests = {col: _kw_pairs(cases, col, p_adjust, alpha) for col in ("dice", "avg_hausdorff_px")}
    rows = []
    for a, b in itertools.combinations(models, 2):
        rho_a = _rho_or_nan(reference, predictions[a])
        rho_b = _rho_or_nan(reference, predictions[b])
        t, p = (np.nan, np.nan)
        if np.isfinite(rho_a) and np.isfinite(rho_b):
            t, p = stats.williams_from_data(reference, predictions[a], predictions[b])
        row = {
            "model_a": a,
            "model_b": b,
            "rho_a": rho_a,
            "rho_b": rho_b,
            "williams_t": t,
            "p_rho": p,
        }
        for col, key in (("dice", "p_dice"), ("avg_hausdorff_px", "p_dh")):
            h, p_kw, pairwise = tests[col]
            defined = pairwise is not None and a in pairwise.index and b in pairwise.index
            row[f"kw_{key[2:]}_p"] = p_kw if h is not None else np.nan
            row[key] = float(pairwise.loc[a, b]) if defined else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    for key in ("p_rho", "p_dice", "p_dh"):
        table[f"sig_{key[2:]}"] = (table[key] < alpha).astype(int)
    return table


def table4(cases: dict[str, pd.DataFrame], alpha: float = 0.05) -> pd.DataFrame:
    """Stuart-Maxwell chi2, df, p on the risk groups of every pair of models (one Agatston
    problem)."""
    models = _model_order(list(cases))
    groups = _aligned({m: cases[m] for m in models}, "predicted_group")
    rows = []
    for a, b in itertools.combinations(models, 2):
        chi2, df, p = stats.stuart_maxwell_from_groups(
            groups[a].to_numpy(int), groups[b].to_numpy(int)
        )
        rows.append(
            {
                "model_a": a,
                "model_b": b,
                "chi2": chi2,
                "df": df,
                "p": p,
                "significant": int(p < alpha),
            }
        )
    return pd.DataFrame(rows)


def _rho_or_nan(reference: Sequence[float], prediction: Sequence[float]) -> float:
    """Pearson r, or NaN where it is undefined (fewer than 3 pairs or a constant input)."""
    ref, pred = np.asarray(reference, float), np.asarray(prediction, float)
    if ref.size < 3 or ref.std() == 0 or pred.std() == 0:
        return float("nan")
    return float(np.corrcoef(ref, pred)[0, 1])


def _per_subject(table: pd.DataFrame) -> pd.DataFrame:
    """Sum reference and predicted areas over each subject's slices (per-case = per-scan)."""
    return table.groupby("subject_id")[["reference", "prediction"]].sum()


def comparison(cases: dict[str, pd.DataFrame], alpha: float = 0.05) -> pd.DataFrame:
    """Per slice and per case (subject): rho and mean Dice of each model, with tests (the
    paper's liver comparison of RL and segmentation).

    The per-case Dice pools a subject's slices, from the per-slice intersection and sizes
    (``inter``, ``n_pred``, ``n_ref``): 2 sum(inter) / (sum(n_pred) + sum(n_ref)).
    """
    models = _model_order(list(cases))
    rows = []
    pooled: dict[str, dict[str, np.ndarray]] = {"slice": {}, "case": {}}
    for m in models:
        t = cases[m]
        subject = _per_subject(t)
        sizes = t.groupby("subject_id")[["inter", "n_pred", "n_ref"]].sum()
        dice_case = [metrics.pooled_dice(s.inter, s.n_pred, s.n_ref) for s in sizes.itertuples()]
        pooled["slice"][m] = t["dice"].to_numpy(float)
        pooled["case"][m] = np.asarray(dice_case, float)
        for level, ref, pred, dice in (
            ("slice", t["reference"], t["prediction"], pooled["slice"][m]),
            ("case", subject["reference"], subject["prediction"], pooled["case"][m]),
        ):
            rows.append(
                {
                    "level": level,
                    "model": m,
                    "n": len(ref),
                    "rho": _rho_or_nan(ref, pred),
                    "dice": float(np.nanmean(dice)),
                }
            )
    table = pd.DataFrame(rows)
    for level in ("slice", "case"):
        h, p = stats.kruskal_dunn(pooled[level])[:2] if len(models) > 1 else (np.nan, np.nan)
        table.loc[table["level"] == level, "kw_dice_p"] = p
        table.loc[table["level"] == level, "kw_dice_significant"] = int(p < alpha)
    return table


def sample_size_summary(records: Sequence[dict]) -> pd.DataFrame:
    """Per problem x training size: mean, min, max, sd over repeats of rho (and Dice)."""
    rows = []
    for record in records:
        for metric in ("rho", "dice"):
            if metric in record["metrics"]:
                rows.append(
                    {
                        "problem": record["problem"],
                        "n": record["n_train"],
                        "metric": metric,
                        "value": record["metrics"][metric]["value"],
                    }
                )
    long = pd.DataFrame(rows)
    summary = long.groupby(["problem", "metric", "n"])["value"].agg(
        mean="mean", min="min", max="max", sd="std", repeats="count"
    )
    return summary.reset_index()


def read_records(paths: Sequence[str | Path]) -> list[dict]:
    """Metrics JSONs."""
    return [json.loads(Path(p).read_text()) for p in paths]


def write_text(path: str | Path, text: str) -> None:
    """Write a rendering (Markdown, LaTeX) atomically."""
    with io.atomic_path(path) as tmp:
        tmp.write_text(text)
