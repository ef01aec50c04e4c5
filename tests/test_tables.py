"""Tables: each number traced to the function that defines it, on hand-made inputs."""

import numpy as np
import pandas as pd
import pytest

from rlnet import stats, tables


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
        "sd",
        "repeats",
        "ci_low",
        "ci_high",
        "n",
    ]
    assert (table["repeats"] == 1).all() and table["sd"].isna().all()
    assert list(zip(table.problem, table.metric, table.model, strict=True)) == [
        ("pma", "rho", "baseline"),
        ("pma", "rho", "rl-unet"),
        ("pma", "dice", "rl-unet"),
        ("sfa", "rho", "rl-unet"),
        ("sfa", "dice", "rl-unet"),
    ]
    markdown = tables.to_markdown(table)
    assert "| PMA | ρ | 0.951 [0.941, 0.961] | 0.977 [0.967, 0.987] |" in markdown
    assert "Baseline" in markdown.splitlines()[0] and "RL-U-Net" in markdown.splitlines()[0]
    latex = tables.to_latex(table)
    assert latex.startswith(r"\begin{tabular}{llcc}") and r"$\rho$" in latex


def test_table2_repeats_mean_sd_and_repeat_0_ci():
    runs = [
        record("pma", "rl-unet", r) | {"rep": rep} for rep, r in ((2, 0.96), (0, 0.90), (1, 0.93))
    ]
    runs[1]["metrics"]["rho"].update(ci_low=0.85, ci_high=0.94, n=50)  # repeat 0's CI
    table = tables.table2([*runs, record("pma", "rule", 0.8)]).set_index("model")
    row = table.loc["rl-unet"]
    # mean 0.93; deviations -0.03, 0, 0.03: sd = sqrt(0.0018 / 2) = 0.03
    assert row["value"] == pytest.approx(0.93) and row["sd"] == pytest.approx(0.03)
    assert row["repeats"] == 3 and (row["ci_low"], row["ci_high"]) == (0.85, 0.94)
    assert table.loc["rule", "repeats"] == 1 and np.isnan(table.loc["rule", "sd"])
    markdown = tables.to_markdown(tables.table2([*runs, record("pma", "rule", 0.8)]))
    assert "| PMA | ρ | 0.800 [0.790, 0.810] | 0.930 ± 0.030 [0.850, 0.940] |" in markdown
    assert "Mean ± sd over training runs (RL-U-Net: 3); the 95% CI in brackets is repeat 0's" in (
        markdown
    )
    assert markdown.splitlines()[0].index("Fixed rule") < markdown.splitlines()[0].index("RL-U")
    assert r"0.930 $\pm$ 0.030" in tables.to_latex(tables.table2(runs))


def test_table2_a_failed_repeat_is_not_averaged_away():
    runs = [record("pma", "rl-unet", r) | {"rep": rep} for rep, r in ((0, 0.9), (1, np.nan))]
    row = tables.table2(runs).iloc[0]
    assert np.isnan(row["value"]) and row["repeats"] == 2


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
    table = tables.table3(cases)
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


def test_table3_williams_and_dunn_after_kruskal():
    cases = cases_for(["enc-unet", "rl-unet", "rl-senet"])
    table = tables.table3(cases)
    assert len(table) == 3
    row = table[(table.model_a == "enc-unet") & (table.model_b == "rl-unet")].iloc[0]
    t, p = stats.williams_from_data(
        cases["enc-unet"].reference, cases["enc-unet"].prediction, cases["rl-unet"].prediction
    )
    assert row.williams_t == pytest.approx(t) and row.p_rho == pytest.approx(p)
    assert np.isnan(row.p_dice)  # enc-unet has no localization
    rl = table[(table.model_a == "rl-unet") & (table.model_b == "rl-senet")].iloc[0]
    h, p_kw, pairwise = stats.kruskal_dunn(
        {"rl-unet": cases["rl-unet"].dice, "rl-senet": cases["rl-senet"].dice}
    )
    assert p_kw < 0.05 and rl.kw_dice_p == pytest.approx(p_kw)
    assert rl.p_dice == pytest.approx(pairwise.loc["rl-unet", "rl-senet"])
    assert rl.sig_dice == 1


def test_table3_no_dunn_when_kruskal_does_not_reject():
    cases = cases_for(["rl-unet", "rl-senet"])
    cases["rl-senet"]["dice"] = cases["rl-unet"]["dice"].to_numpy()[::-1]
    table = tables.table3(cases)
    assert table.kw_dice_p.iloc[0] > 0.05 and np.isnan(table.p_dice.iloc[0])


def test_table4_stuart_maxwell_per_pair():
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 4, 0, 1, 2, 3])
    shifted = np.minimum(groups + (np.arange(12) % 3 == 0), 4)
    cases = {
        m: pd.DataFrame({"case_id": [f"c{i}" for i in range(12)], "predicted_group": g})
        for m, g in (("baseline", groups), ("rl-unet", shifted))
    }
    table = tables.table4(cases)
    chi2, df, p = stats.stuart_maxwell_from_groups(groups, shifted)
    assert table.iloc[0][["chi2", "df", "p"]].tolist() == pytest.approx([chi2, df, p])


def test_sample_size_summary_by_hand():
    records = [
        record("pma", "rl-unet", r, d, n)
        for r, d, n in [(0.90, 0.7, 60), (0.94, 0.8, 60), (0.97, 0.85, 180), (0.99, 0.87, 180)]
    ]
    table = tables.sample_size_summary(records).set_index(["problem", "metric", "n"])
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
    table = tables.comparison(cases).set_index(["level", "model"])
    # rl-unet, subject a: 2 * (4 + 1) / ((5 + 2) + (5 + 4)) = 10/16; subject b: 4/6
    assert table.loc[("case", "rl-unet"), "dice"] == pytest.approx((10 / 16 + 4 / 6) / 2)
    assert table.loc[("slice", "rl-unet"), "n"] == 3 and table.loc[("case", "rl-unet"), "n"] == 2
    assert np.isnan(table.loc[("case", "rl-unet"), "rho"])  # 2 subjects: r undefined, not a crash
    slice_rho = np.corrcoef([10.0, 20.0, 5.0], [11.0, 19.0, 6.0])[0, 1]
    assert table.loc[("slice", "rl-unet"), "rho"] == pytest.approx(slice_rho)
