"""The workflow as a user meets it: lint-clean, formatted, config errors named at start."""

import subprocess
import sys
from pathlib import Path

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


def test_configfile_replaces_the_default_instead_of_merging(tmp_path):
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    config["problems"] = {"pma": config["problems"]["pma"]}
    config["sample_size"]["problems"] = ["pma"]
    only_pma = tmp_path / "pma.yaml"
    only_pma.write_text(yaml.safe_dump(config))
    result = snakemake("-n", "all", "--configfile", str(only_pma))
    assert result.returncode == 0, result.stderr
    assert "results/prepared/pma/" in result.stdout
    assert "results/prepared/sfa/" not in result.stdout


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
    assert {"table2", "table3", "table4", "liver_comparison", "sample_size_summary"} <= jobs
    assert not any(job.startswith("figure") for job in jobs)
