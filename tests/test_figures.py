"""The paper's figures (workflow/rlnet/figures, workflow/rules/figures.smk).

Unit tests draw every kind of figure from small hand-made inputs, open the files (PDF header,
PNG signature, non-trivial size) and check the numbers in the JSON beside each against the
inputs. The end-to-end tests (``slow``) run the tiny study once (fixture ``test_study``) and
check one figure = one job, that an edited figure module reruns exactly its figures, a real
single-figure run, and the report.
"""

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import biomarker
from rlnet import atomic, tsv
from rlnet.config import problem_baselines
from rlnet.figures import agreement, confusion, data, errors, overlays, sample_size, style
from rlnet.prepare import Prepared

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_BYTES = 2000


def assert_figure(pdf: Path) -> dict:
    """The PDF, PNG and JSON of one figure exist and are valid; returns the JSON."""
    pdf = Path(pdf)
    png, sidecar = pdf.with_suffix(".png"), pdf.with_suffix(".json")
    assert pdf.read_bytes()[:5] == b"%PDF-", pdf
    assert png.read_bytes()[:8] == PNG_SIGNATURE, png
    assert pdf.stat().st_size > MIN_BYTES and png.stat().st_size > MIN_BYTES
    assert not list(pdf.parent.glob(f".{pdf.stem}*.tmp*")), "temporary files left behind"
    return json.loads(sidecar.read_text())


def predictions(n=20, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    reference = rng.gamma(2.0, 500.0, n)
    return pd.DataFrame(
        {
            "case_id": [f"c{k:02d}" for k in range(n)],
            "subject_id": [f"s{k:02d}" for k in range(n)],
            "index": np.arange(n),
            "reference": reference,
            "prediction": reference * 0.9 + rng.normal(0, 80, n) + 30,
            "has_mask": 1,
        }
    )


# --- style --------------------------------------------------------------------------------------


def test_examples_are_six_cases_equally_spaced_by_reference():
    reference = np.array([50.0, 10, 90, 30, 70, 20, 80, 40, 60, 0, 100])  # ranks: value / 10
    chosen = style.select_examples(reference)
    assert len(chosen) == 6
    # ranks round(linspace(0, 10, 6)) = 0, 2, 4, 6, 8, 10 -> values 0, 20, ..., 100
    assert list(reference[chosen]) == [0, 20, 40, 60, 80, 100]
    assert style.select_examples([3.0, 1.0, 2.0]) == [1, 2, 0]  # fewer than six: all, sorted


def test_examples_prefer_cases_with_a_mask():
    table = predictions(10)
    table.loc[table["reference"].idxmax(), "has_mask"] = 0
    rows = style.example_rows(table)
    assert len(rows) == 6 and all(table["has_mask"].iloc[rows] == 1)


# --- agreement ----------------------------------------------------------------------------------


def test_bland_altman_numbers_by_hand(tmp_path):
    """Four cases, differences (prediction - reference) 1, 3, 5, 7 by hand: bias 4, sample SD
    sqrt(((-3)² + (-1)² + 1² + 3²) / 3) = sqrt(20 / 3), limits of agreement 4 -+ 1.96 SD."""
    table = predictions(n=4)
    table["reference"] = [10.0, 20.0, 30.0, 40.0]
    table["prediction"] = [11.0, 23.0, 35.0, 47.0]
    numbers = agreement.bland_altman(table, biomarker("pma"), "rl-unet", tmp_path / "ba.pdf")
    assert assert_figure(tmp_path / "ba.pdf") == numbers
    sd = (20 / 3) ** 0.5
    assert numbers["n"] == 4 and numbers["sd_ddof"] == 1
    assert numbers["bias"] == pytest.approx(4.0)
    assert numbers["sd"] == pytest.approx(sd)
    assert numbers["lower_limit"] == pytest.approx(4.0 - 1.96 * sd)
    assert numbers["upper_limit"] == pytest.approx(4.0 + 1.96 * sd)


def test_correlation_numbers_and_example_colours(tmp_path):
    table = predictions()
    numbers = agreement.correlation(table, biomarker("sfa"), "rl-unet", tmp_path / "corr.pdf")
    assert assert_figure(tmp_path / "corr.pdf") == numbers
    assert numbers["rho"] == pytest.approx(
        np.corrcoef(table["reference"], table["prediction"])[0, 1]
    )
    slope, intercept = np.polyfit(table["reference"], table["prediction"], 1)
    assert numbers["slope"] == pytest.approx(slope)
    assert numbers["intercept"] == pytest.approx(intercept)
    assert numbers["examples"] == list(table["case_id"].iloc[style.example_rows(table)])
    assert numbers["example_colours"] == list(style.CASE_COLOURS)


def test_constant_prediction_draws_with_undefined_rho(tmp_path):
    table = predictions()
    table["prediction"] = 5.0
    numbers = agreement.correlation(table, biomarker("pma"), "enc-unet", tmp_path / "c.pdf")
    assert numbers["rho"] is None  # NaN in JSON-friendly form
    assert_figure(tmp_path / "c.pdf")


# --- confusion ----------------------------------------------------------------------------------


def test_confusion_counts(tmp_path):
    ref = [0, 0, 1, 1, 2, 3, 4, 4, 0, 2]
    pred = [0, 1, 1, 1, 3, 3, 4, 3, 0, 2]
    table = pd.DataFrame({"reference_group": ref, "predicted_group": pred})
    numbers = confusion.confusion(table, biomarker("cac"), "rl-unet", tmp_path / "conf.pdf")
    assert assert_figure(tmp_path / "conf.pdf") == numbers
    counts = np.array(numbers["counts"])
    assert counts.sum() == numbers["n"] == len(table)
    assert counts[0, 0] == 2 and counts[0, 1] == 1 and counts[4, 3] == 1
    normalised = np.array(numbers["row_normalised"])
    assert np.allclose(normalised.sum(axis=1), 1.0)
    assert numbers["accuracy"] == pytest.approx(np.mean(np.array(ref) == np.array(pred)))


# --- overlays -----------------------------------------------------------------------------------


def test_classify_true_false_positives_negatives():
    predicted = np.array([[1, 1, 0, 0]])
    reference = np.array([[1, 0, 1, 0]])
    labels = overlays.classify(predicted, reference)
    assert labels.tolist() == [[overlays.TP, overlays.FP, overlays.FN, overlays.NONE]]
    assert overlays.counts(labels) == {"tp": 1, "fp": 1, "fn": 1}
    colours = overlays.rgba(np.ones_like(labels), labels)
    from matplotlib.colors import to_rgba

    assert tuple(colours[0, 0]) == to_rgba("#2ca02c")  # TP green
    assert tuple(colours[0, 1]) == to_rgba("#ffd700")  # FP yellow
    assert tuple(colours[0, 2]) == to_rgba("#d62728")  # FN red
    assert tuple(colours[0, 3]) == overlays.CANDIDATE_RGBA  # candidate only: grey


@pytest.mark.parametrize(
    ("value", "title"), [(11480.4, "11480"), (725.8, "726"), (12.345, "12.3"), (0.01234, "0.0123")]
)
def test_panel_titles_have_no_exponent(value, title):
    assert overlays._fmt(value) == title


def _test_predictions(prepared: Prepared) -> tuple[pd.DataFrame, np.ndarray]:
    """Predictions of the prepared toy problem's test cases: the localization is the reference
    mask shifted by one pixel (so TP, FP and FN all occur)."""
    indices = prepared.indices("test")
    cases = prepared.cases.loc[indices].reset_index(drop=True)
    masks = np.asarray(prepared.masks[indices])
    local = np.roll(masks, 1, axis=-1)
    table = cases[["case_id", "subject_id", "index"]].copy()
    table["reference"] = cases["value"].astype(float)
    table["prediction"] = local.reshape(len(local), -1).sum(axis=1) * 4.0
    table["has_mask"] = 1
    return table, local


def test_overlays_show_six_cases_with_correct_counts(toy_prepared, tmp_path):
    prepared = Prepared.load(toy_prepared)
    table, local = _test_predictions(prepared)
    table = pd.concat([table, table.assign(case_id=table["case_id"] + "b")], ignore_index=True)
    local = np.concatenate([local, local])
    numbers = overlays.overlays(
        table, local, prepared, biomarker("pma"), "rl-unet", tmp_path / "ov.pdf"
    )
    assert assert_figure(tmp_path / "ov.pdf") == numbers
    expected = list(table["case_id"].iloc[style.example_rows(table)])
    assert numbers["case_ids"] == expected and len(expected) == min(6, len(table))
    for entry in numbers["models"]["rl-unet"]:
        k = table.index[table["case_id"] == entry["case_id"]][0]
        ref = np.asarray(prepared.masks[entry["index"]]) > 0
        pred = local[k] > 0
        assert entry["tp"] == np.count_nonzero(pred & ref)
        assert entry["fp"] == np.count_nonzero(pred & ~ref)
        assert entry["fn"] == np.count_nonzero(~pred & ref)
    # the correlation plot colours the same cases in the same order
    corr = agreement.correlation(table, biomarker("pma"), "rl-unet", tmp_path / "corr.pdf")
    assert corr["examples"] == numbers["case_ids"]


def test_liver_comparison_rows_per_model(toy_prepared, tmp_path):
    prepared = Prepared.load(toy_prepared)
    table, local = _test_predictions(prepared)
    models = {
        "rl-unet": (table, local),
        "seg-unet": (table, np.asarray(prepared.masks[table["index"].to_numpy()])),
    }
    numbers = overlays.comparison(models, prepared, biomarker("liver"), tmp_path / "liver.pdf")
    assert assert_figure(tmp_path / "liver.pdf") == numbers
    assert list(numbers["models"]) == ["rl-unet", "seg-unet"]
    assert all(e["fp"] == e["fn"] == 0 for e in numbers["models"]["seg-unet"])


def test_cac_overlay_picks_the_slice_with_most_detected_calcium(tmp_path):
    """3D: the axial slice with the most localization voxels; grey = voxels >= 130 HU."""
    folder = tmp_path / "prepared"
    folder.mkdir()
    shape = (1, 6, 10, 10)
    images = np.full(shape, 0, np.int16)
    images[0, 1, 2:4, 2:4] = 400  # "aortic" calcium: never localized
    images[0, 4, 5:8, 5:8] = 300  # coronary lesion
    masks = np.zeros(shape, np.uint8)
    masks[0, 4, 5:8, 5:8] = 1
    np.save(folder / "images.npy", images)
    np.save(folder / "candidates.npy", np.ones(shape, np.uint8))
    np.save(folder / "masks.npy", masks)
    tsv.write_table(
        folder / "cases.tsv",
        pd.DataFrame(
            {
                "index": [0],
                "case_id": ["h0"],
                "split": ["test"],
                "spacing": ["3 2.5 2.5"],
                "value": [9.0],
            }
        ),
    )
    atomic.write_json(
        folder / "meta.json",
        {
            "spatial_dims": 3,
            "shape": [6, 10, 10],
            "input_window": [-1000, 1500],
            "roi": {"size": [6, 10, 10], "margin": [0, 0, 0]},
        },
    )
    prepared = Prepared.load(folder)
    local = masks.copy()
    local[0, 4, 5, 5] = 0  # one false negative
    view = overlays.case_view(prepared, 0, local[0])
    assert view["slice"] == 4
    assert view["grey"].sum() == 9  # the lesion's voxels >= 130 HU in this slice
    table = pd.DataFrame(
        {"case_id": ["h0"], "index": [0], "reference": [9.0], "prediction": [8.0], "has_mask": [1]}
    )
    numbers = overlays.overlays(
        table, local, prepared, biomarker("cac"), "rl-unet", tmp_path / "cac.pdf"
    )
    assert numbers["models"]["rl-unet"][0] == {
        "case_id": "h0",
        "index": 0,
        "slice": 4,
        "prediction": 8.0,
        "tp": 8,
        "fp": 0,
        "fn": 1,
    }
    assert_figure(tmp_path / "cac.pdf")


# --- errors, sample size, data ------------------------------------------------------------------


def test_abs_error_boxes(tmp_path):
    tables = {"rl-unet": predictions(seed=1), "baseline": predictions(seed=2)}
    numbers = errors.abs_error(tables, biomarker("cac"), tmp_path / "err.pdf")
    assert assert_figure(tmp_path / "err.pdf") == numbers
    assert numbers["models"] == ["baseline", "rl-unet"]  # the paper's order
    err = np.abs(tables["rl-unet"]["prediction"] - tables["rl-unet"]["reference"])
    assert numbers["errors"]["rl-unet"]["median"] == pytest.approx(np.median(err))
    assert numbers["errors"]["rl-unet"]["n"] == 20


def test_sample_size_numbers_match_the_table(tmp_path):
    table = pd.DataFrame(
        {
            "problem": ["pma"] * 4 + ["sfa"],
            "metric": ["rho", "rho", "dice", "dice", "rho"],
            "n": [16, 8, 8, 16, 8],
            "mean": [0.8, 0.6, 0.5, 0.7, 0.1],
            "min": [0.7, 0.5, 0.4, 0.6, 0.1],
            "max": [0.9, 0.7, 0.6, 0.8, 0.1],
            "sd": [0.05, 0.1, 0.08, 0.04, np.nan],
            "repeats": [2, 2, 2, 2, 1],
        }
    )
    numbers = sample_size.sample_size(table, biomarker("pma"), tmp_path / "ss.pdf")
    assert assert_figure(tmp_path / "ss.pdf") == numbers
    assert list(numbers["metrics"]) == ["rho", "dice"]
    assert numbers["metrics"]["rho"] == [
        {"n": 8, "mean": 0.6, "min": 0.5, "max": 0.7, "sd": 0.1, "repeats": 2},
        {"n": 16, "mean": 0.8, "min": 0.7, "max": 0.9, "sd": 0.05, "repeats": 2},
    ]
    single = sample_size.sample_size(table, biomarker("sfa"), tmp_path / "sfa.pdf")
    assert single["metrics"]["rho"][0]["sd"] is None
    with pytest.raises(ValueError, match="liver"):
        sample_size.sample_size(table, biomarker("liver"), tmp_path / "none.pdf")


def _split_tables():
    split = pd.DataFrame(
        {
            "case_id": [f"h{k}" for k in range(10)],
            "split": ["train"] * 6 + ["val"] * 2 + ["test"] * 2,
        }
    )
    agatston = [0, 0, 5, 50, 150, 2000, 0, 500, 0, 12]
    manifest = pd.DataFrame(
        {"case_id": split["case_id"], "value": np.arange(10) * 10.0, "agatston": agatston}
    )
    return split, manifest


def test_distribution_proportions(tmp_path):
    split, manifest = _split_tables()
    table = data.cases(split, manifest, biomarker("cac"))
    assert list(table["plotted"]) == list(manifest["agatston"].astype(float))
    numbers = data.distribution(table, biomarker("cac"), tmp_path / "dist.pdf")
    assert assert_figure(tmp_path / "dist.pdf") == numbers
    assert {k: v["n"] for k, v in numbers["splits"].items()} == {"train": 6, "val": 2, "test": 2}
    for entry in numbers["splits"].values():
        assert sum(entry["proportions"]) == pytest.approx(1.0)
    assert (
        data.cases(split, manifest, biomarker("pma"))["plotted"].tolist()
        == manifest["value"].tolist()
    )


def test_risk_group_proportions(tmp_path):
    split, manifest = _split_tables()
    numbers = data.risk_groups(
        data.cases(split, manifest, biomarker("cac")), biomarker("cac"), tmp_path / "risk.pdf"
    )
    assert assert_figure(tmp_path / "risk.pdf") == numbers
    # paper scheme: [0,10) [10,100) [100,400) [400,1000) >=1000
    assert numbers["splits"]["train"]["counts"] == [3, 1, 1, 0, 1]
    assert numbers["splits"]["val"]["counts"] == [1, 0, 0, 1, 0]
    assert numbers["splits"]["test"]["counts"] == [1, 1, 0, 0, 0]


def test_cli_stage_writes_all_three_files(tmp_path):
    table = predictions()
    tsv.write_table(tmp_path / "predictions.tsv", table)
    from rlnet.cli import main

    out = tmp_path / "fig" / "pma_rl-unet.pdf"
    assert (
        main(
            [
                "figure-bland-altman",
                "--predictions",
                str(tmp_path / "predictions.tsv"),
                "--biomarker",
                biomarker("pma").to_json(),
                "--model",
                "rl-unet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert assert_figure(out)["n"] == len(table)


# --- end to end (the tiny study, run once per session) ------------------------------------------


def snakemake(study: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """snakemake ``args`` in the study. Targets first: --configfile, --forcerun and --quiet
    take several values and would swallow a target that follows them."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        *args,
        "--cores",
        "2",
        "--configfile",
        "config/test.yaml",
    ]
    result = subprocess.run(command, cwd=study, env=env, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def planned_jobs(study: Path, *targets: str) -> dict[str, int]:
    """rule -> job count of a dry run (the 'Job stats' table)."""
    out = snakemake(study, *targets, "-n", "--quiet", "rules").stdout
    jobs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            jobs[parts[0]] = int(parts[1])
    return jobs


def figures_the_config_implies(config: dict) -> set[str]:
    """Figure names (under results/figures, without suffix) by README.md's table of figures:
    per problem its distribution and absolute-error plots; per model and baseline a Bland-Altman
    and a correlation plot, and overlays for those with a map (RL-Nets, the segmentation U-Net,
    the baselines); for a problem whose biomarker is an Agatston score, a confusion matrix per
    model and baseline and the risk-group proportions; the RL-vs-segmentation comparison of a
    problem training rl-unet and seg-unet; a sample-size figure per problem of the sweep."""
    names = set()
    for problem, settings in config["problems"].items():
        names |= {f"distribution/{problem}", f"abs_error/{problem}"}
        agatston = settings["biomarker"]["score"] == "agatston"
        baselines = problem_baselines(config, problem)
        for model in settings["models"] + baselines:
            names |= {f"bland_altman/{problem}_{model}", f"correlation/{problem}_{model}"}
            if model in baselines or model.startswith(("rl-", "seg-")):
                names.add(f"overlays/{problem}_{model}")
            if agatston:
                names.add(f"confusion/{problem}_{model}")
        if agatston:
            names.add(f"risk_groups/{problem}")
        if {"rl-unet", "seg-unet"} <= set(settings["models"]):
            names.add(f"comparison/{problem}")
    return names | {f"sample_size/{problem}" for problem in config["sample_size"]["problems"]}


@pytest.mark.slow
def test_study_figures_are_valid_and_match_the_predictions(test_study):
    folder = test_study / "results" / "figures"
    figures = sorted(folder.rglob("*.pdf"))
    config = yaml.safe_load((test_study / "config" / "test.yaml").read_text())
    drawn = {str(pdf.relative_to(folder).with_suffix("")) for pdf in figures}
    assert drawn == figures_the_config_implies(config)
    for pdf in figures:
        assert_figure(pdf)
    preds = pd.read_csv(
        test_study / "results/predictions/pma/rl-unet/nall_r0/predictions.tsv", sep="\t"
    )
    ba = json.loads((test_study / "results/figures/bland_altman/pma_rl-unet.json").read_text())
    diff = preds["prediction"] - preds["reference"]
    assert ba["bias"] == pytest.approx(diff.mean())
    assert ba["upper_limit"] == pytest.approx(diff.mean() + 1.96 * diff.std(ddof=1))
    cac = pd.read_csv(
        test_study / "results/predictions/cac/rl-unet/nall_r0/predictions.tsv", sep="\t"
    )
    conf = json.loads((test_study / "results/figures/confusion/cac_rl-unet.json").read_text())
    assert np.sum(conf["counts"]) == len(cac)
    ov = json.loads((test_study / "results/figures/overlays/pma_rl-unet.json").read_text())
    assert ov["case_ids"] == list(preds["case_id"].iloc[style.example_rows(preds)])
    corr = json.loads((test_study / "results/figures/correlation/pma_rl-unet.json").read_text())
    assert corr["examples"] == ov["case_ids"]


@pytest.mark.slow
def test_one_figure_is_one_job(test_study):
    assert planned_jobs(test_study) == {}, "the study should be complete"
    target = "results/figures/bland_altman/pma_rl-unet.pdf"
    assert planned_jobs(test_study, target, "--forcerun", "figure_bland_altman") == {
        "figure_bland_altman": 1
    }
    pdf = test_study / target
    before = pdf.stat().st_mtime
    snakemake(test_study, target, "--forcerun", "figure_bland_altman")
    assert pdf.stat().st_mtime > before
    assert_figure(pdf)
    assert planned_jobs(test_study) == {}


@pytest.mark.slow
def test_edited_module_reruns_exactly_its_figures(test_study):
    """A behaviour edit of a figure module reruns exactly the figures drawn with it (the
    module's behaviour hash is the rule's code param)."""
    folder = test_study / "workflow" / "rlnet" / "figures"
    saved = {
        name: ((folder / name).read_bytes(), (folder / name).stat())
        for name in ("confusion.py", "agreement.py")
    }

    def edit(name):
        with open(folder / name, "a") as handle:
            handle.write("\nEDITED_BY_TEST_FIGURES = True\n")

    try:
        edit("confusion.py")
        # `all` asks for every figure file itself (the `figures` target is not in its DAG)
        config = yaml.safe_load((test_study / "config" / "test.yaml").read_text())
        cac = len(config["problems"]["cac"]["models"] + problem_baselines(config, "cac"))
        assert planned_jobs(test_study) == {"figure_confusion": cac, "all": 1}
        edit("agreement.py")
        jobs = planned_jobs(test_study)
        models = sum(
            len(s["models"] + problem_baselines(config, p)) for p, s in config["problems"].items()
        )
        assert jobs["figure_bland_altman"] == jobs["figure_correlation"] == models
        assert set(jobs) == {
            "figure_confusion",
            "figure_bland_altman",
            "figure_correlation",
            "all",
        }
    finally:
        for name, (content, stat) in saved.items():
            (folder / name).write_bytes(content)
            os.utime(folder / name, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert planned_jobs(test_study) == {}


@pytest.mark.slow
def test_edited_phantom_regenerates_exactly_its_shards(test_study):
    """A behaviour edit of a phantom module regenerates its own shards and what depends on
    them, no more."""
    module = test_study / "workflow" / "rlnet" / "phantoms" / "liver.py"
    content, stat = module.read_bytes(), module.stat()
    try:
        with open(module, "a") as handle:
            handle.write("\nEDITED_BY_TEST_FIGURES = True\n")
        plan = snakemake(test_study, "-n").stdout
        outputs = {o for line in re.findall(r"output: (.+)", plan) for o in line.split(", ")}
        shards = {o for o in outputs if o.startswith("results/data/synthetic/")}
        assert shards == {
            "results/data/synthetic/abdomen/shard0.tsv",
            "results/data/synthetic/abdomen/shard0.tsv.prov.json",
            "results/data/synthetic/abdomen/shard0",
        }
        assert "results/prepared/liver/images.npy" in outputs
        assert "results/models/liver/rl-unet/nall_r0/model.pt" in outputs
        # tables and figures that pool problems rerun; no other problem's data or model does
        stages = r"results/(data|prepared|models|predictions)/(pma|sfa|cac)/"
        assert not [o for o in outputs if re.match(stages, o)]
    finally:
        module.write_bytes(content)
        os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert planned_jobs(test_study) == {}


def test_training_edit_retrains_without_re_preparing(test_study):
    """A problem's training block is a param of its train jobs, not of prepare: editing it
    reruns that problem's training and what follows, not its data preparation."""
    config = test_study / "config" / "test.yaml"
    content = config.read_bytes()
    edited = yaml.safe_load(content)
    edited["problems"]["pma"]["training"] = {"max_epochs": 1}
    sweep = edited["sample_size"]
    repeats = edited["evaluation"].get("repeats", {})
    runs = sum(
        repeats["n"] if m in repeats.get("models", []) else 1
        for m in edited["problems"]["pma"]["models"]
    )
    runs += len(sweep["sizes"]) * sweep["repeats"]
    try:
        config.write_text(yaml.safe_dump(edited))
        jobs = planned_jobs(test_study)
    finally:
        config.write_bytes(content)
    assert "prepare" not in jobs and "split" not in jobs
    assert jobs["train"] == runs
    assert planned_jobs(test_study) == {}


@pytest.mark.slow
def test_report_contains_every_figure_and_table(test_study, tmp_path):
    report = tmp_path / "report.zip"
    snakemake(test_study, "--report", str(report))
    names = {Path(n).name for n in zipfile.ZipFile(report).namelist()}
    pngs = {p.name for p in (test_study / "results" / "figures").rglob("*.png")}
    assert pngs <= names
    assert {"table2.tsv", "table4_cac.tsv", "sample_size.tsv", "supplementary_liver.tsv"} <= names
    assert "report.html" in names
