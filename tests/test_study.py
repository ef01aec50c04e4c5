"""End to end: the tiny study (config/test.yaml) through Snakemake, checked file by file."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT
from rlnet.config import problem_baselines

pytestmark = pytest.mark.slow
CONFIG = yaml.safe_load((ROOT / "config/test.yaml").read_text())
BIN = Path(sys.executable).parent
REPEATS = CONFIG["evaluation"].get("repeats", {})


def repeats(model: str) -> int:
    """Main-study runs of a model (evaluation.repeats)."""
    return REPEATS["n"] if model in REPEATS.get("models", []) else 1


def rlnet(study: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(study / "workflow")}
    return subprocess.run(
        [sys.executable, "-m", "rlnet", *args], cwd=study, env=env, capture_output=True, text=True
    )


def planned_jobs(study: Path) -> dict[str, int]:
    """rule -> job count of a dry run of ``all`` (the 'Job stats' table)."""
    result = subprocess.run(
        [str(BIN / "snakemake"), "-n", "--configfile", "config/test.yaml", "--quiet", "rules"],
        cwd=study,
        capture_output=True,
        text=True,
    )
    jobs = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            jobs[parts[0]] = int(parts[1])
    return jobs


def read(study: Path, path: str) -> pd.DataFrame:
    return pd.read_csv(study / path, sep="\t", dtype={"case_id": str, "subject_id": str})


def test_data_stage_outputs(test_study):
    chest = CONFIG["phantoms"]["chest"]
    for problem in ("pma", "sfa"):
        manifest = read(test_study, f"results/data/{problem}/manifest.tsv")
        assert len(manifest) == chest["n_cases"]
        assert (manifest["value"] > 0).all()
        spacing = np.prod([float(v) for v in manifest.loc[0, "spacing"].split()])
        assert spacing == pytest.approx(np.prod(chest["spacing"]))
        split = read(test_study, f"results/data/{problem}/split.tsv")
        assert set(split["split"]) == {"train", "val", "test"}
        assert split.groupby("subject_id")["split"].nunique().max() == 1
    liver = read(test_study, "results/data/liver/split.tsv")
    assert liver.groupby("subject_id")["split"].nunique().max() == 1  # several slices a subject
    counts = read(test_study, "results/data/cac/split_counts.tsv")
    assert counts["total"].sum() == CONFIG["phantoms"]["heart"]["n_cases"]
    images = np.load(test_study / "results/prepared/cac/images.npy", mmap_mode="r")
    roi = CONFIG["problems"]["cac"]["roi"]
    assert images.shape[1:] == tuple(
        s + 2 * m for s, m in zip(roi["size"], roi["margin"], strict=True)
    )
    assert images.dtype == np.int16


def test_table2_holds_every_configured_model(test_study):
    table = read(test_study, "results/tables/table2.tsv")
    for problem, settings in CONFIG["problems"].items():
        rows = table[(table["problem"] == problem) & (table["metric"] == "icc")]
        models = settings["models"] + problem_baselines(CONFIG, problem)
        assert sorted(rows["model"]) == sorted(models)
        assert rows.set_index("model")["runs"].to_dict() == {m: repeats(m) for m in models}
    kappa = table[table["metric"] == "kappa"]
    assert set(kappa["problem"]) == {"cac"}
    record = json.loads((test_study / "results/metrics/pma/rl-unet/nall_r0.json").read_text())
    row = table[(table.problem == "pma") & (table.model == "rl-unet") & (table.metric == "icc")]
    assert row["value"].item() == pytest.approx(record["metrics"]["icc"]["value"])
    assert "| PMA |" in (test_study / "results/tables/table2.md").read_text()


def test_table2_repeats_are_mean_and_sd_of_the_runs(test_study):
    model = REPEATS["models"][0]
    problem = next(p for p, s in CONFIG["problems"].items() if model in s["models"])
    values = [
        json.loads((test_study / f"results/metrics/{problem}/{model}/nall_r{k}.json").read_text())[
            "metrics"
        ]["icc"]["value"]
        for k in range(REPEATS["n"])
    ]
    table = read(test_study, "results/tables/table2.tsv")
    row = table[(table.problem == problem) & (table.model == model) & (table.metric == "icc")]
    assert row["value"].item() == pytest.approx(np.mean(values))
    assert row["sd_runs"].item() == pytest.approx(np.std(values, ddof=1))
    assert row["ci_low"].item() <= row["value"].item() <= row["ci_high"].item()


def test_baselines_are_predicted_and_evaluated_like_models(test_study):
    for problem in CONFIG["problems"]:
        for name in problem_baselines(CONFIG, problem):
            folder = test_study / f"results/predictions/{problem}/{name}/nall_r0"
            run = json.loads((folder / "run.json").read_text())
            assert (run["model"], run["family"]) == (name, "baseline-rule")
            model_table = read(
                test_study, f"results/predictions/{problem}/rl-unet/nall_r0/predictions.tsv"
            )
            table = read(
                test_study, f"results/predictions/{problem}/{name}/nall_r0/predictions.tsv"
            )
            assert list(table.columns) == list(model_table.columns)
            assert list(table["case_id"]) == list(model_table["case_id"])
            local = np.load(folder / "localization.npy")
            assert local.shape[0] == len(table) and local.dtype == np.uint8
    liver = json.loads((test_study / "results/metrics/liver/rule/nall_r0.json").read_text())
    assert {"rho_patient", "dice_patient"} <= set(liver["metrics"])


def test_sample_size_table_has_every_size_and_repeat(test_study):
    table = read(test_study, "results/tables/sample_size.tsv")
    rho = table[table["metric"] == "rho"]
    assert sorted(rho["n"]) == sorted(CONFIG["sample_size"]["sizes"])
    assert (rho["repeats"] == CONFIG["sample_size"]["repeats"]).all()


def test_every_training_and_prediction_job_left_its_benchmark(test_study):
    """`benchmark:` of train and predict: one Snakemake record per run (wall seconds, peak
    memory), for every main run (each repeat) and sweep run, and no baseline (not trained)."""
    sweep = CONFIG["sample_size"]
    runs = {
        (p, m, f"nall_r{rep}")
        for p, settings in CONFIG["problems"].items()
        for m in settings["models"]
        for rep in range(repeats(m))
    }
    runs |= {
        (p, sweep["model"], f"n{size}_r{rep}")
        for p in sweep["problems"]
        for size in sweep["sizes"]
        for rep in range(sweep["repeats"])
    }
    for rule in ("train", "predict"):
        files = sorted((test_study / "results/benchmarks" / rule).rglob("*.tsv"))
        assert {(f.parts[-3], f.parts[-2], f.stem) for f in files} == runs
        for file in files:
            record = pd.read_csv(file, sep="\t")
            assert len(record) == 1 and record.loc[0, "s"] > 0 and record.loc[0, "max_rss"] > 0


def test_nothing_left_to_do_after_all(test_study):
    result = subprocess.run(
        [str(BIN / "snakemake"), "-n", "all", "--configfile", "config/test.yaml"],
        cwd=test_study,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr


def test_audit_walks_table2_back_to_the_raw_images(test_study):
    result = rlnet(test_study, "audit", "results/tables/table2.tsv", "--list")
    assert result.returncode == 0, result.stdout + result.stderr
    made = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("made")]
    assert "results/tables/table2.tsv" in made
    assert "results/models/pma/rl-unet/nall_r0/model.pt" in made
    assert "results/data/synthetic/chest/shard0.tsv" in made
    # synthetic images are made by the synthesis stage: records of their own, no raw input
    assert any(p.startswith("results/data/synthetic/chest/images/") for p in made)
    assert "0 raw input(s)" in result.stdout


def test_edited_module_reruns_its_jobs_and_fails_the_audit(test_study):
    """Snakemake and the audit agree on code: an edit of rlnet/evaluate.py (run by the metrics
    stage only) plans every metrics job and what reads metrics, and fails the audit naming it."""
    module = test_study / "workflow" / "rlnet" / "evaluate.py"
    content, stat = module.read_bytes(), module.stat()
    sweep = CONFIG["sample_size"]
    runs = sum(repeats(m) for p in CONFIG["problems"].values() for m in p["models"])
    runs += sum(len(problem_baselines(CONFIG, p)) for p in CONFIG["problems"])
    runs += len(sweep["sizes"]) * sweep["repeats"] * len(sweep["problems"])
    try:
        with open(module, "a") as handle:
            handle.write("\n# edited by test_study\n")
        jobs = planned_jobs(test_study)
        audit = rlnet(test_study, "audit", "results/tables/table2.tsv")
    finally:
        module.write_bytes(content)
        os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert jobs == {
        "metrics": runs,
        "table2": 1,
        "table3": sum(
            len(s["models"] + problem_baselines(CONFIG, p)) > 1
            for p, s in CONFIG["problems"].items()
        ),
        "table4": 1,
        "comparison": 1,
        "sample_size_summary": 1,
        "figure_sample_size": len(sweep["problems"]),
        "all": 1,
    }
    assert audit.returncode == 1
    assert "module rlnet.evaluate changed since stage 'metrics' made it" in audit.stdout
    assert planned_jobs(test_study) == {}
    assert rlnet(test_study, "audit", "results/tables/table2.tsv").returncode == 0


def test_audit_fails_naming_a_tampered_input(test_study):
    path = test_study / "results/metrics/pma/rl-unet/nall_r0.json"
    original = path.read_bytes()
    try:
        path.write_bytes(original.replace(b'"rho"', b'"rho" ', 1))
        result = rlnet(test_study, "audit", "results/tables/table2.tsv")
        assert result.returncode == 1
        assert "results/metrics/pma/rl-unet/nall_r0.json" in result.stdout
    finally:
        path.write_bytes(original)
