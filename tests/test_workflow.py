"""The workflow as a user meets it: lint-clean, formatted, config errors named at start."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

BIN = Path(sys.executable).parent


def snakemake(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "snakemake"), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_lint_is_clean():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_leaves_rule_files_unchanged():
    files = [str(ROOT / "Snakefile"), *map(str, sorted((ROOT / "workflow/rules").glob("*.smk")))]
    result = subprocess.run(
        [str(BIN / "snakefmt"), "--check", *files], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_bad_config_stops_before_any_job_naming_the_key(tmp_path):
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    config["training"]["batch_size"] = 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = snakemake("-n", "all", "--configfile", str(bad))
    assert result.returncode != 0
    assert "training.batch_size" in result.stdout + result.stderr


def test_configfile_merges_over_the_default_and_null_leaves_out(tmp_path):
    """An override file of two keys over the embedded default (config.yaml by hand: global
    batch 16 and 40 epochs; cac batch 4): training.max_epochs 3 reaches every problem, the
    other keys stay (cac's batch 4); sfa set to null plans no sfa job, and
    `--config sample_size=` (empty: null) drops the sweep (no subset run n100)."""
    override = tmp_path / "override.yaml"
    override.write_text("training: {max_epochs: 3}\nproblems: {sfa: null}\n")
    where = ("-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path / "work"))
    args = ("--config", "sample_size=", "--configfile", str(override))
    result = snakemake("-n", "-p", "all", *where, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "results/prepared/pma/" in result.stdout
    assert "/sfa/" not in result.stdout and "/n100_r" not in result.stdout
    train = re.findall(r"rlnet train .*--problem (\w+) .*--settings '([^']+)'", result.stdout)
    settings = {(p, json.loads(t)["max_epochs"], json.loads(t)["batch_size"]) for p, t in train}
    # cac: its own batch 4 (the default's per-problem block)
    assert settings == {("pma", 3, 16), ("liver", 3, 16), ("cac", 3, 4)}


def test_one_file_target_plans_only_its_ancestors(tmp_path):
    # An empty work folder: a study already on disk in the checkout must not change the plan.
    result = snakemake(
        "-n",
        "results/data/pma/split.tsv",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(ROOT / "config/test.yaml"),
    )
    assert result.returncode == 0, result.stderr
    jobs = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("rule ")]
    assert sorted(jobs) == ["manifest:", "split:", "synthesize:", "synthesize:"]


def test_tables_target_plans_every_table_and_no_figure(tmp_path):
    result = snakemake(
        "-n",
        "tables",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(ROOT / "config/test.yaml"),
    )
    assert result.returncode == 0, result.stderr
    jobs = {
        line.split()[1].rstrip(":")
        for line in result.stdout.splitlines()
        if line.startswith("rule ")
    }
    assert {"table2", "table3", "table4", "comparison", "sample_size_summary"} <= jobs
    assert not any(job.startswith("figure") for job in jobs)


def planned(tmp_path: Path, config: Path) -> list[dict[str, str]]:
    """The jobs of a dry run of `all` in an empty work folder: [{rule, input, output}]."""
    where = ("-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path))
    result = snakemake("-n", "all", *where, "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = []
    for block in result.stdout.split("\nrule ")[1:]:
        fields = dict(re.findall(r"^    (input|output): (.+)$", block, re.M))
        jobs.append({"rule": block.split(":")[0], **fields})
    return jobs


def test_baselines_and_repeats_are_planned(tmp_path):
    """config/test.yaml: a baseline job per problem x baseline that applies to it (heart-rule on
    the Agatston problem, skin-rule on the 2D problems with HU candidates and no candidate mask,
    so not liver, whose candidates are a mask and an HU range) writing predictions and run.json
    (no training job), metrics reading that run.json, and enc-unet on pma trained twice
    (evaluation.repeats) with both runs in Table II."""
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    jobs = planned(tmp_path / "work", ROOT / "config/test.yaml")
    outputs = {o for job in jobs for o in job.get("output", "").split(", ")}
    assert config["evaluation"]["baselines"] == ["candidates", "rule", "heart-rule", "skin-rule"]
    applies = {
        "pma": ["candidates", "rule", "skin-rule"],
        "sfa": ["candidates", "rule", "skin-rule"],
        "cac": ["candidates", "rule", "heart-rule"],
        "liver": ["candidates", "rule"],
    }
    baseline_jobs = [j for j in jobs if j["rule"] == "baseline"]
    assert len(baseline_jobs) == sum(len(names) for names in applies.values())
    assert not any("liver/skin-rule" in o or "pma/heart-rule" in o for o in outputs)
    for problem, names in applies.items():
        for name in names:
            folder = f"results/predictions/{problem}/{name}/nall_r0"
            assert {f"{folder}/predictions.tsv", f"{folder}/run.json"} <= outputs
            assert f"{folder}/localizations.npz" in outputs
            assert f"results/metrics/{problem}/{name}/nall_r0.json" in outputs
            assert f"results/figures/bland_altman/{problem}_{name}.pdf" in outputs
            assert f"results/figures/overlays/{problem}_{name}.pdf" in outputs
            assert not any(o.startswith(f"results/models/{problem}/{name}/") for o in outputs)
    metrics = next(j for j in jobs if j["rule"] == "metrics" and "metrics/cac/rule/" in j["output"])
    assert "results/predictions/cac/rule/nall_r0/run.json" in metrics["input"].split(", ")
    trained = {o for j in jobs if j["rule"] == "train" for o in j["output"].split(", ")}
    for run in ("nall_r0", "nall_r1"):
        assert f"results/models/pma/enc-unet/{run}/model.pt" in trained
    assert "results/models/pma/rl-unet/nall_r1/model.pt" not in trained  # not in repeats
    # one start (output_bias_starts: [0]): every run is one train job writing its run folder
    assert not [j for j in jobs if j["rule"] in ("train_start", "select_start")]
    assert not [o for o in outputs if "/starts/" in o]
    table2 = next(j for j in jobs if j["rule"] == "table2")["input"].split(", ")
    assert {
        "results/metrics/pma/enc-unet/nall_r1.json",
        "results/metrics/liver/rule/nall_r0.json",
    } <= set(table2)
    table3 = next(j for j in jobs if j["rule"] == "table3" and "pma" in j["output"])
    assert "results/metrics/pma/enc-unet/nall_r1_cases.tsv" not in table3["input"]  # repeat 0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["problems"]["sfa"].update(baselines=None),
            "config key 'problems.sfa.baselines.rule': needed because evaluation.baselines "
            "lists 'rule'",
        ),
        (
            lambda c: c["problems"]["pma"]["baselines"].update(rule="agatston"),
            "config key 'problems.pma.baselines.rule': 'agatston' scores 3D volumes",
        ),
        (
            lambda c: c["evaluation"]["repeats"].update(models=["rl-sdnet"]),
            "config key 'evaluation.repeats.models': 'rl-sdnet' is not a model of any problem",
        ),
        (
            lambda c: c["evaluation"].update(baselines=["median"]),
            "evaluation.baselines",
        ),
    ],
)
def test_bad_baseline_or_repeats_config_is_named_at_start(tmp_path, edit, message):
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    edit(config)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = snakemake("-n", "all", "--configfile", str(bad), "--directory", str(tmp_path))
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_runs_of_several_starts_are_a_job_per_start_and_a_selection(tmp_path):
    """With output_bias_starts [0, 2] every RL run (a model named rl-*, the sweep's runs too)
    is one train_start job per start writing starts/start+<d>/ and a select_start job writing
    the run folder from them; a direct regressor, a segmentation model and an RL model brought
    back to one start (cac's rl-unet, model_training) stay one train job writing the run
    folder, as with one start."""
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    config["training"]["output_bias_starts"] = [0, 2]
    config["problems"]["cac"]["model_training"] = {"rl-unet": {"output_bias_starts": [0]}}
    (tmp_path / "starts.yaml").write_text(yaml.safe_dump(config))
    jobs = planned(tmp_path / "work", tmp_path / "starts.yaml")

    runs = {
        (p, m, f"nall_r{rep}")
        for p, block in config["problems"].items()
        for m in block["models"]
        for rep in range(2 if m in config["evaluation"]["repeats"]["models"] else 1)
    }
    sweep = config["sample_size"]
    runs |= {
        (p, sweep["model"], f"n{size}_r{rep}")
        for p in sweep["problems"]
        for size in sweep["sizes"]
        for rep in range(sweep["repeats"])
    }
    several = {r for r in runs if r[1].startswith("rl-") and r[:2] != ("cac", "rl-unet")}
    assert several and runs - several  # both kinds are in the study

    def outputs(rule: str) -> list[str]:
        return [o for j in jobs if j["rule"] == rule for o in j["output"].split(", ")]

    def folder(run):
        return "results/models/{}/{}/{}".format(*run)

    files = [
        f"{name}{record}"
        for name in ("model.pt", "log.tsv", "run.json")
        for record in ("", ".prov.json")
    ]
    assert sorted(outputs("train_start")) == sorted(
        f"{folder(r)}/starts/start{d}/{f}" for r in several for d in ("+0", "+2") for f in files
    )
    assert sorted(outputs("select_start")) == sorted(
        f"{folder(r)}/{f}" for r in several for f in files
    )
    assert sorted(outputs("train")) == sorted(
        f"{folder(r)}/{f}" for r in runs - several for f in files
    )
    select = next(
        j for j in jobs if j["rule"] == "select_start" and "pma/rl-unet/nall_r0" in j["output"]
    )
    assert select["input"].split(", ")[:2] == [
        f"results/models/pma/rl-unet/nall_r0/starts/start{d}/run.json" for d in ("+0", "+2")
    ]
