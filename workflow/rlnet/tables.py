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

from rlnet import correlation, io, metrics, stats
from rlnet.model_registry import BASELINES, MODEL_LABELS

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


#: The localization metrics Table III tests, per unit: (per-case column, Table III name).
TESTED = (("dice", "dice"), ("avg_hausdorff_px", "dh"))


def _aligned(cases: dict[str, pd.DataFrame], models: list[str], column: str) -> pd.DataFrame:
    """One column of the models' per-case tables, aligned on case_id (inner join)."""
    frames = [cases[m].set_index("case_id")[column].rename(m) for m in models]
    return pd.concat(frames, axis=1, join="inner")


def _localized(table: pd.DataFrame) -> pd.DataFrame:
    """The per-case rows whose reference mask is not empty (all rows without ``n_ref``): an
    empty reference gives Dice 1 to any empty prediction."""
    return table[table["n_ref"] > 0] if "n_ref" in table else table


def _several_per_subject(table: pd.DataFrame) -> bool:
    """Whether some subject has several test cases (the tests then run on subjects)."""
    return bool(table["subject_id"].duplicated().any())


def unit_values(table: pd.DataFrame, by_subject: bool) -> pd.DataFrame:
    """One model's values per test unit (index: case_id, or subject_id when ``by_subject``):
    reference and prediction (per subject: summed), and where the table has them Dice and the
    average Hausdorff distance (px) of the units with a non-empty reference, NaN elsewhere (per
    subject: the Dice of the pooled pixels, or the mean of the cases' Dice without pixel counts;
    the mean of the defined distances)."""
    if not by_subject:
        units = table.set_index("case_id")[["reference", "prediction"]].copy()
        for column, _ in TESTED:
            if column in table:
                positive = _localized(table).set_index("case_id")[column]
                units[column] = positive.reindex(units.index)
        return units
    units = table.groupby("subject_id", sort=True)[["reference", "prediction"]].sum()
    positive = _localized(table)
    if "dice" in table:
        groups = positive.groupby("subject_id", sort=True)
        if {"inter", "n_pred", "n_ref"} <= set(table.columns):
            counts = groups[["inter", "n_pred", "n_ref"]].sum()
            dice = pd.Series(
                [metrics.pooled_dice(c.inter, c.n_pred, c.n_ref) for c in counts.itertuples()],
                index=counts.index,
            )
        else:
            dice = groups["dice"].mean()
        units["dice"] = dice.reindex(units.index)
    if "avg_hausdorff_px" in table:
        distance = positive.groupby("subject_id", sort=True)["avg_hausdorff_px"].mean()
        units["avg_hausdorff_px"] = distance.reindex(units.index)
    return units


def _dunn(units: dict[str, pd.DataFrame], column: str, alpha: float):
    """(Kruskal-Wallis p, unadjusted pairwise Dunn p or None when Kruskal-Wallis does not
    reject) over the models with values in ``column``; (NaN, None) with fewer than two."""
    groups = {m: u[column].dropna().to_numpy(float) for m, u in units.items() if column in u}
    groups = {m: v for m, v in groups.items() if v.size}
    if len(groups) < 2:
        return float("nan"), None
    _, p, pairwise = stats.kruskal_dunn(groups, None)
    return p, (pairwise if p < alpha else None)


def _pair(units: dict[str, pd.DataFrame], a: str, b: str, tests: dict) -> dict:
    """One row of Table III before adjustment: Williams on rho, and per localization metric the
    paired means, Wilcoxon and (the paper's) Dunn p of models a and b."""
    joined = pd.concat(
        [units[a][["reference", "prediction"]], units[b]["prediction"].rename("prediction_b")],
        axis=1,
        join="inner",
    )
    reference = joined["reference"]
    rho_a = correlation.pearson_r(reference, joined["prediction"])
    rho_b = correlation.pearson_r(reference, joined["prediction_b"])
    t, p = stats.williams_from_data(reference, joined["prediction"], joined["prediction_b"])
    row = {"model_a": a, "model_b": b, "n": len(joined), "rho_a": rho_a, "rho_b": rho_b}
    row.update({"williams_t": t, "p_rho": p})
    for column, name in TESTED:
        pairs = pd.DataFrame(columns=["a", "b"], dtype=float)
        if column in units[a] and column in units[b]:
            pairs = pd.concat([units[a][column], units[b][column]], axis=1, join="inner")
            pairs = pairs.set_axis(["a", "b"], axis=1).dropna()
        p_wilcoxon, n_pairs = (
            stats.wilcoxon_paired(pairs["a"], pairs["b"]) if len(pairs) else (np.nan, 0)
        )
        p_kw, pairwise = tests[column]
        dunn = pairwise is not None and a in pairwise.index and b in pairwise.index
        row.update(
            {
                f"{name}_a": pairs["a"].mean() if n_pairs else np.nan,
                f"{name}_b": pairs["b"].mean() if n_pairs else np.nan,
                f"n_{name}": n_pairs,
                f"wilcoxon_{name}_p": p_wilcoxon,
                f"kw_{name}_p": p_kw if column in units[a] and column in units[b] else np.nan,
                f"dunn_{name}_p": float(pairwise.loc[a, b]) if dunn else np.nan,
            }
        )
    return row


def table3(
    cases: dict[str, pd.DataFrame], p_adjust: str = "holm", alpha: float = 0.05
) -> pd.DataFrame:
    """Every pair of models, on the test units (subjects where a subject has several cases,
    cases otherwise: ``unit``): Williams on rho; Wilcoxon signed-rank (paired) and the paper's
    Dunn after Kruskal-Wallis on Dice and dH (px). Each family (a test on a metric, over all
    pairs) is adjusted by ``p_adjust`` (``*_adj``); ``sig_*`` marks adjusted p < alpha of the
    paired tests (Williams, Wilcoxon)."""
    models = _model_order(list(cases))
    by_subject = _several_per_subject(cases[models[0]])
    units = {m: unit_values(cases[m], by_subject) for m in models}
    tests = {column: _dunn(units, column, alpha) for column, _ in TESTED}
    rows = [_pair(units, a, b, tests) for a, b in itertools.combinations(models, 2)]
    table = pd.DataFrame(rows)
    table.insert(2, "unit", "subject" if by_subject else "case")
    families = ["p_rho"] + [f"{test}_{n}_p" for _, n in TESTED for test in ("wilcoxon", "dunn")]
    for family in families:
        table[f"{family}_adj"] = stats.adjust_pvalues(table[family].to_numpy(float), p_adjust)
    table["sig_rho"] = (table["p_rho_adj"] < alpha).astype(int)
    for _, name in TESTED:
        table[f"sig_{name}"] = (table[f"wilcoxon_{name}_p_adj"] < alpha).astype(int)
    table["p_adjust"] = p_adjust
    return table


def table4(
    cases: dict[str, pd.DataFrame], alpha: float = 0.05, p_adjust: str = "holm"
) -> pd.DataFrame:
    """Stuart-Maxwell chi2, df, p on the risk groups of every pair of models (one Agatston
    problem), p adjusted over the pairs by ``p_adjust`` (``p_adj``; ``significant``: p_adj <
    alpha). The cases are paired: one risk group per case from each model."""
    models = _model_order(list(cases))
    groups = _aligned(cases, models, "predicted_group")
    rows = []
    for a, b in itertools.combinations(models, 2):
        chi2, df, p = stats.stuart_maxwell_from_groups(
            groups[a].to_numpy(int), groups[b].to_numpy(int)
        )
        rows.append({"model_a": a, "model_b": b, "n": len(groups), "chi2": chi2, "df": df, "p": p})
    table = pd.DataFrame(rows)
    table["p_adj"] = stats.adjust_pvalues(table["p"].to_numpy(float), p_adjust)
    table["significant"] = (table["p_adj"] < alpha).astype(int)
    table["p_adjust"] = p_adjust
    return table


def comparison(cases: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per slice and per case (subject): n, rho and mean Dice of each model (the paper's liver
    comparison of RL and segmentation). Descriptive: the tests, on subjects, are Table III's.

    The per-case Dice pools a subject's slices, from the per-slice intersection and sizes
    (``inter``, ``n_pred``, ``n_ref``): 2 sum(inter) / (sum(n_pred) + sum(n_ref)).
    """
    rows = []
    for m in _model_order(list(cases)):
        t = cases[m]
        subject = t.groupby("subject_id")[["reference", "prediction"]].sum()
        sizes = t.groupby("subject_id")[["inter", "n_pred", "n_ref"]].sum()
        dice_case = [metrics.pooled_dice(s.inter, s.n_pred, s.n_ref) for s in sizes.itertuples()]
        for level, ref, pred, dice in (
            ("slice", t["reference"], t["prediction"], t["dice"].to_numpy(float)),
            ("case", subject["reference"], subject["prediction"], np.asarray(dice_case, float)),
        ):
            rows.append(
                {
                    "level": level,
                    "model": m,
                    "n": len(ref),
                    "rho": correlation.pearson_r(ref, pred),
                    "dice": float(np.nanmean(dice)),
                }
            )
    return pd.DataFrame(rows)


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
