"""Tables: each number traced to the function that defines it, on hand-made inputs."""

import numpy as np
import pandas as pd
import pytest

from rlnet import pairwise, stats, supplementary, tables


def record(problem, model, rho, dice=None, n_train=100):
    metrics = {"rho": {"value": rho, "ci_low": rho - 0.01, "ci_high": rho + 0.01, "n": 50}}
    if dice is not None:
        metrics["dice"] = {"value": dice, "ci_low": dice - 0.02, "ci_high": dice + 0.02, "n": 50}
    return {"problem": problem, "model": model, "n_train": n_train, "metrics": metrics}


def test_table2_long_format_in_paper_order_and_renderings():
    """Problems in the order of the records (the config's), models and metrics in the
    paper's order."""
    records = [
        record("pma", "rl-unet", 0.977, 0.853),
        record("sfa", "rl-unet", 0.99, 0.9),
        record("pma", "baseline", 0.951),
    ]
    table = tables.table2(records)
    assert list(table.columns) == [
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
    assert (table["runs"] == 1).all() and table["sd_runs"].isna().all()
    assert (table["min_runs"] == table["value"]).all()
    assert list(zip(table.problem, table.metric, table.model, strict=True)) == [
        ("pma", "rho", "baseline"),
        ("pma", "rho", "rl-unet"),
        ("pma", "dice", "rl-unet"),
        ("sfa", "rho", "rl-unet"),
        ("sfa", "dice", "rl-unet"),
    ]
    markdown = tables.to_markdown(table, "area")
    assert "| PMA | ρ | 0.951 [0.941, 0.961] | 0.977 [0.967, 0.987] |" in markdown
    assert "Baseline" in markdown.splitlines()[0] and "RL-U-Net" in markdown.splitlines()[0]
    assert tables.CI_NOTE in markdown and "d: the localization masks of the 'area' rule" in markdown
    latex = tables.to_latex(table)
    assert latex.startswith(r"\begin{tabular}{llcc}") and r"$\rho$" in latex
    assert "% " + tables.CI_NOTE in latex


def with_replicates(rec: dict, replicates: list[float], key: str = "k1") -> dict:
    rec["metrics"]["rho"].update(bootstrap=replicates, resample=key)
    return rec


#: Three runs of one model: rho and four bootstrap replicates each (the same resamples).
RUNS = ((2, 0.96, [0.95, 0.97, 0.96, 0.96]), (0, 0.90, [0.88, 0.90, 0.92, 0.86]))
RUNS += ((1, 0.93, [0.93, 0.93, 0.93, 0.93]),)


def test_table2_repeats_mean_with_the_ci_of_the_mean_and_the_spread_over_runs():
    runs = [with_replicates(record("pma", "rl-unet", r) | {"rep": k}, b) for k, r, b in RUNS]
    table = tables.table2([*runs, record("pma", "rule", 0.8)]).set_index("model")
    row = table.loc["rl-unet"]
    # mean 0.93; deviations -0.03, 0, 0.03: sd = sqrt(0.0018 / 2) = 0.03
    assert row["value"] == pytest.approx(0.93) and row["sd_runs"] == pytest.approx(0.03)
    assert (row["runs"], row["min_runs"], row["max_runs"]) == (3, 0.90, 0.96)
    # replicate-wise means over the runs: (0.88 + 0.93 + 0.95) / 3 = 0.92, 2.80 / 3, 2.81 / 3,
    # 2.75 / 3; sorted 0.916667, 0.92, 0.933333, 0.936667; numpy's linear percentiles at
    # positions 0.075 and 2.925: 0.916667 + 0.075 x 0.003333, 0.933333 + 0.925 x 0.003333
    assert row["ci_low"] == pytest.approx(0.916917, abs=1e-6)
    assert row["ci_high"] == pytest.approx(0.936417, abs=1e-6)
    assert row["ci_low"] <= row["value"] <= row["ci_high"]
    assert table.loc["rule", "runs"] == 1 and np.isnan(table.loc["rule", "sd_runs"])
    markdown = tables.to_markdown(tables.table2([*runs, record("pma", "rule", 0.8)]))
    cell = "0.930 [0.917, 0.936]; sd 0.030 (0.900 to 0.960)"
    assert f"| PMA | ρ | 0.800 [0.790, 0.810] | {cell} |" in markdown
    assert "Mean over training runs (RL-U-Net: 3) [its 95% CI]" in markdown
    assert "No learning, fitted on the training split only: Fixed rule" in markdown
    assert markdown.splitlines()[0].index("Fixed rule") < markdown.splitlines()[0].index("RL-U")


def test_table2_names_the_models_the_epoch_budget_stopped():
    """budget_runs counts the runs whose run.json said stopped_by: budget (3 records: 2 of
    rl-unet's 2 runs and none of enc-unet's or the baseline's); the note names them, the
    records without a stopped_by (baselines, older metrics) count as not stopped by it."""
    records = [
        {**with_replicates(record("pma", "rl-unet", 0.9), [0.9]), "rep": 0, "stopped_by": "budget"},
        {**with_replicates(record("pma", "rl-unet", 0.8), [0.8]), "rep": 1, "stopped_by": "budget"},
        {**record("pma", "enc-unet", 0.7), "stopped_by": "patience"},
        record("pma", "rule", 0.6),
    ]
    table = tables.table2(records).set_index("model")
    assert table.loc["rl-unet", "budget_runs"] == 2 and table.loc["rl-unet", "runs"] == 2
    assert table.loc["enc-unet", "budget_runs"] == 0 and table.loc["rule", "budget_runs"] == 0
    markdown = tables.to_markdown(tables.table2(records))
    assert "Stopped by the epoch budget" in markdown and "pma RL-U-Net (2 of 2 runs)" in markdown
    assert "Enc(U-Net)" not in markdown.split("Stopped by the epoch budget")[1]
    assert tables.budget_note(tables.table2(records[2:])) == ""


def test_table2_runs_must_share_their_bootstrap_resamples():
    runs = [with_replicates(record("pma", "rl-unet", r) | {"rep": k}, b) for k, r, b in RUNS]
    runs[1]["metrics"]["rho"]["resample"] = "other"
    with pytest.raises(ValueError, match="model rl-unet, metric rho: the runs' bootstrap"):
        tables.table2(runs)
    runs = [record("pma", "rl-unet", r) | {"rep": k} for k, r, _ in RUNS]
    with pytest.raises(ValueError, match="no bootstrap replicates; rerun metrics"):
        tables.table2(runs)


def test_table2_a_failed_repeat_is_not_averaged_away():
    runs = [
        with_replicates(record("pma", "rl-unet", r) | {"rep": rep}, [r, r])
        for rep, r in ((0, 0.9), (1, np.nan))
    ]
    row = tables.table2(runs).iloc[0]
    assert np.isnan(row["value"]) and row["runs"] == 2 and np.isnan(row["ci_low"])


def test_table2_refuses_two_records_of_one_repeat():
    with pytest.raises(ValueError, match="two metrics records"):
        tables.table2([record("pma", "rl-unet", 0.9), record("pma", "rl-unet", 0.8)])


def test_table2_orders_the_honest_metrics_next_to_their_plain_ones():
    metrics = ("dice_patient", "dice_all", "dice", "icc", "rho_patient", "rho")
    entry = {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 4}
    rec = {"problem": "liver", "model": "rl-unet", "metrics": {m: entry for m in metrics}}
    table = tables.table2([rec])
    assert list(table["metric"]) == list(reversed(metrics))
    markdown = tables.to_markdown(table)
    for label in ("ρ (per patient)", "d (all cases)", "d (per patient)"):
        assert f"| LIVER | {label} |" in markdown


def test_table3_dice_test_leaves_out_empty_references():
    cases = cases_for(["rl-unet", "rl-senet"])
    for t in cases.values():
        t["n_ref"] = [0] * 10 + [5] * 30  # the first 10 cases: no reference mask content
    cases["rl-unet"].loc[:9, "dice"] = 1.0  # an empty prediction of an empty reference
    table = pairwise.table3(cases)
    _, p_kw, _ = stats.kruskal_dunn({m: t["dice"].to_numpy()[10:] for m, t in cases.items()})
    assert table.kw_dice_p.iloc[0] == pytest.approx(p_kw)


def cases_for(models, n=40, seed=0, with_dice=True):
    rng = np.random.default_rng(seed)
    reference = rng.lognormal(5, 0.5, n)
    out = {}
    for k, m in enumerate(models):
        t = pd.DataFrame(
            {
                "case_id": [f"c{i}" for i in range(n)],
                "subject_id": [f"s{i}" for i in range(n)],
                "reference": reference,
                "prediction": reference + rng.normal(0, 10 + 10 * k, n),
            }
        )
        if with_dice and m.startswith("rl"):
            t["dice"] = np.clip(rng.normal(0.9 - 0.1 * k, 0.03, n), 0, 1)
            t["avg_hausdorff_px"] = rng.normal(1 + k, 0.2, n)
        out[m] = t
    return out


def holm_by_hand(p):
    """Holm's step-down adjustment written out: the i-th smallest of m p-values times
    (m - i), a running maximum, capped at 1."""
    p = np.asarray(p, float)
    order = np.argsort(p)
    scaled = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
    out = np.empty_like(p)
    out[order] = np.minimum(scaled, 1.0)
    return out


def test_table3_williams_and_dunn_after_kruskal():
    cases = cases_for(["enc-unet", "rl-unet", "rl-senet"])
    table = pairwise.table3(cases)
    assert len(table) == 3 and (table.unit == "case").all() and (table.n == 40).all()
    row = table[(table.model_a == "enc-unet") & (table.model_b == "rl-unet")].iloc[0]
    t, p = stats.williams_from_data(
        cases["enc-unet"].reference, cases["enc-unet"].prediction, cases["rl-unet"].prediction
    )
    assert row.williams_t == pytest.approx(t) and row.p_rho == pytest.approx(p)
    assert np.isnan(row.dunn_dice_p) and np.isnan(row.wilcoxon_dice_p)  # enc-unet: no maps
    np.testing.assert_allclose(table.p_rho_adj, holm_by_hand(table.p_rho))
    assert (table.sig_rho == (table.p_rho_adj < 0.05)).all()
    rl = table[(table.model_a == "rl-unet") & (table.model_b == "rl-senet")].iloc[0]
    h, p_kw, dunn = stats.kruskal_dunn(
        {"rl-unet": cases["rl-unet"].dice, "rl-senet": cases["rl-senet"].dice}, None
    )
    assert p_kw < 0.05 and rl.kw_dice_p == pytest.approx(p_kw)
    assert rl.dunn_dice_p == pytest.approx(dunn.loc["rl-unet", "rl-senet"])
    assert rl.dunn_dice_p_adj == pytest.approx(rl.dunn_dice_p)  # a family of one pair
    paired = stats.wilcoxon_paired(cases["rl-unet"].dice, cases["rl-senet"].dice)
    assert (rl.wilcoxon_dice_p, rl.n_dice) == (pytest.approx(paired[0]), 40)
    assert rl.sig_dice == 1 and rl.dice_a == pytest.approx(cases["rl-unet"].dice.mean())


def test_table3_dunn_family_adjusted_as_scikit_posthocs_does():
    cases = cases_for(["rl-unet", "rl-senet", "rl-sdnet"])
    table = pairwise.table3(cases).set_index(["model_a", "model_b"])
    _, _, holm = stats.kruskal_dunn({m: t["dice"] for m, t in cases.items()}, "holm")
    for a, b in table.index:
        assert table.loc[(a, b), "dunn_dice_p_adj"] == pytest.approx(holm.loc[a, b])
    np.testing.assert_allclose(
        table["wilcoxon_dh_p_adj"], holm_by_hand(table["wilcoxon_dh_p"]), rtol=1e-12
    )
    assert (table["p_adjust"] == "holm").all()


def test_table3_pairs_cases_by_id_not_by_row():
    cases = cases_for(["rl-unet", "rl-senet"])
    aligned = stats.wilcoxon_paired(cases["rl-unet"].dice, cases["rl-senet"].dice)[0]
    cases["rl-senet"] = cases["rl-senet"].iloc[::-1].reset_index(drop=True)
    row = pairwise.table3(cases).iloc[0]
    assert row.wilcoxon_dice_p == pytest.approx(aligned)


def subject_cases() -> dict[str, pd.DataFrame]:
    """Two models on 8 slices of 4 subjects (a: 3 slices, b: 2, c: 2, d: 1)."""
    subjects = ["a", "a", "a", "b", "b", "c", "c", "d"]
    reference = [10.0, 20.0, 30.0, 5.0, 15.0, 40.0, 0.0, 25.0]
    out = {}
    for model, shift, inter in (("rl-unet", 1.0, 3), ("seg-unet", -2.0, 4)):
        out[model] = pd.DataFrame(
            {
                "case_id": [f"x{i}" for i in range(8)],
                "subject_id": subjects,
                "reference": reference,
                "prediction": [r + shift * (i % 3) for i, r in enumerate(reference)],
                "inter": [inter, 2, 1, 4, 0, 5, 0, 2],
                "n_pred": [5, 4, 2, 5, 1, 6, 0, 4],
                "n_ref": [5, 4, 4, 4, 2, 5, 0, 2],
                "dice": 0.0,  # per slice; the subject level pools the pixel counts instead
                "avg_hausdorff_px": [1.0, 2.0, 4.0, 1.5, np.nan, 0.5, np.nan, 3.0],
            }
        )
    return out


def test_table3_tests_subjects_where_a_subject_has_several_slices():
    cases = subject_cases()
    row = pairwise.table3(cases).iloc[0]
    assert (row.unit, row.n) == ("subject", 4)
    # per-subject sums: reference 60, 20, 40, 25; rl-unet (slice i shifted by i mod 3):
    # a 10 + 21 + 32 = 63, b 5 + 16 = 21, c 42 + 0 = 42, d 26
    ref, pred = [60.0, 20.0, 40.0, 25.0], [63.0, 21.0, 42.0, 26.0]
    assert row.rho_a == pytest.approx(np.corrcoef(ref, pred)[0, 1])
    # pooled Dice of rl-unet: a 2(3+2+1)/((5+4+2)+(5+4+4)) = 12/24; b 2*4/(6+6) = 8/12;
    # c 2*5/(6+5) = 10/11 (its empty slice adds nothing); d 2*2/(4+2) = 4/6
    assert row.dice_a == pytest.approx(np.mean([12 / 24, 8 / 12, 10 / 11, 4 / 6]))
    # seg-unet: a 2(4+2+1)/24 = 14/24, the others as rl-unet
    assert row.dice_b == pytest.approx(np.mean([14 / 24, 8 / 12, 10 / 11, 4 / 6]))
    assert row.n_dice == 4
    # mean distance per subject over its slices with a distance: a (1+2+4)/3, b 1.5, c 0.5, d 3
    assert row.dh_a == pytest.approx(np.mean([7 / 3, 1.5, 0.5, 3.0]))
    assert row.wilcoxon_dice_p == pytest.approx(1.0)  # one subject differs: W = 0 of n = 1


def test_table3_no_dunn_when_kruskal_does_not_reject():
    cases = cases_for(["rl-unet", "rl-senet"])
    cases["rl-senet"]["dice"] = cases["rl-unet"]["dice"].to_numpy()[::-1]
    table = pairwise.table3(cases)
    assert table.kw_dice_p.iloc[0] > 0.05 and np.isnan(table.dunn_dice_p.iloc[0])


def test_table4_stuart_maxwell_per_pair():
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 4, 0, 1, 2, 3])
    shifted = np.minimum(groups + (np.arange(12) % 3 == 0), 4)
    cases = {
        m: pd.DataFrame({"case_id": [f"c{i}" for i in range(12)], "predicted_group": g})
        for m, g in (("baseline", groups), ("rl-unet", shifted))
    }
    table = pairwise.table4(cases)
    chi2, df, p = stats.stuart_maxwell_from_groups(groups, shifted)
    assert table.iloc[0][["chi2", "df", "p"]].tolist() == pytest.approx([chi2, df, p])
    assert table.iloc[0]["p_adj"] == pytest.approx(p)  # one pair: a family of one


def test_table4_adjusts_the_family_of_pairs():
    rng = np.random.default_rng(4)
    groups = rng.integers(0, 5, 60)
    shifted = {
        "baseline": groups,
        "enc-unet": np.minimum(groups + (rng.random(60) < 0.3), 4),
        "rl-unet": np.maximum(groups - (rng.random(60) < 0.1), 0),
    }
    cases = {
        m: pd.DataFrame({"case_id": [f"c{i}" for i in range(60)], "predicted_group": g})
        for m, g in shifted.items()
    }
    table = pairwise.table4(cases, p_adjust="holm")
    np.testing.assert_allclose(table["p_adj"], holm_by_hand(table["p"]))
    assert (table["significant"] == (table["p_adj"] < 0.05)).all() and (table.n == 60).all()


def test_sample_size_summary_by_hand():
    records = [
        record("pma", "rl-unet", r, d, n)
        for r, d, n in [(0.90, 0.7, 60), (0.94, 0.8, 60), (0.97, 0.85, 180), (0.99, 0.87, 180)]
    ]
    table = supplementary.sample_size_summary(records).set_index(["problem", "metric", "n"])
    row = table.loc[("pma", "rho", 60)]
    assert row["mean"] == pytest.approx(0.92) and row["min"] == 0.90 and row["max"] == 0.94
    assert row["sd"] == pytest.approx(np.std([0.90, 0.94], ddof=1)) and row["repeats"] == 2
    assert table.loc[("pma", "dice", 180), "mean"] == pytest.approx(0.86)


def test_liver_per_case_dice_pools_slices():
    def frame(inter, n_pred, n_ref, pred):
        return pd.DataFrame(
            {
                "case_id": ["a0", "a1", "b0"],
                "subject_id": ["a", "a", "b"],
                "reference": [10.0, 20.0, 5.0],
                "prediction": pred,
                "dice": [2 * i / (p + r) for i, p, r in zip(inter, n_pred, n_ref, strict=True)],
                "inter": inter,
                "n_pred": n_pred,
                "n_ref": n_ref,
            }
        )

    cases = {
        "rl-unet": frame([4, 1, 2], [5, 2, 4], [5, 4, 2], [11.0, 19.0, 6.0]),
        "seg-unet": frame([3, 2, 2], [4, 2, 2], [5, 4, 2], [9.0, 22.0, 4.0]),
    }
    table = supplementary.comparison(cases).set_index(["level", "model"])
    # rl-unet, subject a: 2 * (4 + 1) / ((5 + 2) + (5 + 4)) = 10/16; subject b: 4/6
    assert table.loc[("case", "rl-unet"), "dice"] == pytest.approx((10 / 16 + 4 / 6) / 2)
    assert table.loc[("slice", "rl-unet"), "n"] == 3 and table.loc[("case", "rl-unet"), "n"] == 2
    assert np.isnan(table.loc[("case", "rl-unet"), "rho"])  # 2 subjects: r undefined, not a crash
    slice_rho = np.corrcoef([10.0, 20.0, 5.0], [11.0, 19.0, 6.0])[0, 1]
    assert table.loc[("slice", "rl-unet"), "rho"] == pytest.approx(slice_rho)
