"""Tables III and IV of the paper: pairwise tests of the models of one problem.

Table III (per problem): every pair of models: Williams's test on rho, Wilcoxon's signed-rank
test on Dice (cases with a non-empty reference mask) and on the average Hausdorff distance (px),
paired by case, and the paper's Kruskal-Wallis then Dunn (unpaired) beside them; every family
of pairwise p-values (one test on one metric over all pairs) adjusted (``evaluation.p_adjust``,
Holm by default). Where a subject has several test cases (liver: slices of a patient) the tests
run on subjects, the independent units: per-subject sums of reference and prediction, the Dice
of the subject's pooled pixels, the mean Hausdorff distance of its slices.
Table IV (per Agatston problem): Stuart-Maxwell on the risk groups of every pair of models,
adjusted as Table III.
"""

import itertools

import numpy as np
import pandas as pd

from rlnet import correlation, metrics, stats
from rlnet.model_registry import in_table_order

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
    models = in_table_order(list(cases))
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
    models = in_table_order(list(cases))
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
