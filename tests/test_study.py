"""End to end: the tiny study (config/test.yaml) through Snakemake, checked file by file."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from test_starts import trained_in_turn, untimed

from conftest import ROOT
from rlnet.config import problem_baselines
from rlnet.training.run_spec import RunSpec

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
    assert result.returncode == 0, result.stderr[-3000:]
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


def test_table2_counts_the_runs_the_epoch_budget_stopped(test_study):
    """budget_runs of each trained model's row = its main runs whose run.json says
    stopped_by: budget (counted here from the run.json files), and table2.md names them."""
    table = read(test_study, "results/tables/table2.tsv")
    rows = table[table["metric"] == "icc"].set_index(["problem", "model"])
    counted = {}
    for path in (test_study / "results/models").glob("*/*/nall_r*/run.json"):
        run = json.loads(path.read_text())
        key = (run["problem"], run["model"])
        counted[key] = counted.get(key, 0) + (run["stopped_by"] == "budget")
    assert counted and any(counted.values())
    for key, budget in counted.items():
        assert rows.loc[key, "budget_runs"] == budget, key
    markdown = (test_study / "results/tables/table2.md").read_text()
    assert ("Stopped by the epoch budget" in markdown) == any(counted.values())


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


#: What jobs may write outside their declared outputs, on purpose: training checkpoints (they
#: must survive a failed job) and the audit's hash cache (no job writes it).
UNDECLARED_ON_PURPOSE = ("results/checkpoints/", "results/.audit-cache.json")


def summary(study: Path) -> list[dict[str, str]]:
    """The rows of `snakemake --summary all`: one per output file of every job (output_file,
    date, rule, log-file(s), status, plan)."""
    command = [str(BIN / "snakemake"), "--summary", "all", "--configfile", "config/test.yaml"]
    result = subprocess.run(command, cwd=study, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if "\t" in line]
    header = lines[0].split("\t")
    assert header[:2] == ["output_file", "date"], lines[0]
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


def benchmarks(study: Path) -> set[str]:
    """The benchmark files of the jobs of `all` (a dry run planning every job again)."""
    command = [str(BIN / "snakemake"), "-n", "--forceall", "all", "--configfile"]
    result = subprocess.run(
        [*command, "config/test.yaml"], cwd=study, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return set(re.findall(r"^    benchmark: (.+)$", result.stdout, re.M))


def test_every_file_a_job_writes_is_declared(test_study):
    """results/ of the tiny study holds the files `snakemake --summary` lists (every output,
    each made and up to date, and every log), the benchmarks and nothing else (besides
    UNDECLARED_ON_PURPOSE): each record, each map, each synthetic image is an output or inside
    a directory() output."""
    rows = summary(test_study)
    assert rows and all((r["status"], r["plan"]) == ("ok", "no update") for r in rows), [
        r for r in rows if (r["status"], r["plan"]) != ("ok", "no update")
    ][:5]
    outputs = {r["output_file"] for r in rows}
    logs = {log for r in rows if r["log-file(s)"] != "-" for log in r["log-file(s)"].split(",")}
    folders = {p for p in outputs if (test_study / p).is_dir()}
    files = (outputs - folders) | logs | benchmarks(test_study)
    assert folders >= {
        "results/data/synthetic/chest/shard0",
        "results/predictions/pma/rl-unet/nall_r0/maps",
        "results/predictions/pma/enc-unet/nall_r0/maps",  # a direct regressor's, empty
    }
    assert {"results/tables/table2.tsv", "results/tables/table2.tsv.prov.json"} <= files
    assert "results/logs/tables/table2.log" in logs
    on_disk = {
        str(p.relative_to(test_study)) for p in (test_study / "results").rglob("*") if p.is_file()
    }
    inside = {f for f in on_disk if any(f.startswith(f"{d}/") for d in folders)}
    undeclared = sorted(
        f for f in on_disk - files - inside if not f.startswith(UNDECLARED_ON_PURPOSE)
    )
    assert not undeclared, f"{len(undeclared)} undeclared, e.g. {undeclared[:10]}"
    assert not sorted(files - on_disk), "declared but not written"
    assert any(f.startswith("results/data/synthetic/chest/shard0/images/") for f in inside)
    assert any(f.startswith("results/predictions/pma/rl-unet/nall_r0/maps/") for f in inside)


#: What run.json records of each start of a run of several (stopped_by: why its training ended).
START_FIGURES = ("output_bias", "best_val_loss", "best_epoch", "epochs", "stopped_by")


def test_two_starts_as_jobs_give_the_model_of_one_job_training_both(test_study, tmp_path):
    """The tiny study with output_bias_starts [0, 2] (in a copy of it): pma's rl-unet run is two
    train_start jobs, run side by side, and a select_start job, nothing else (the data stage is
    done), and its model.pt is byte for byte, log.tsv loss for loss and run.json but timings
    what one job training both starts in turn and keeping the lower best validation loss gives
    (as the one training job did before starts were jobs: test_starts.IN_TURN). Start +0 has the
    weights of the tiny study's own run of one start."""
    study = tmp_path / "study"
    shutil.copytree(test_study, study, symlinks=True)
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    config["training"]["output_bias_starts"] = [0, 2]
    (study / "starts.yaml").write_text(yaml.safe_dump(config))
    run = "results/models/pma/rl-unet/nall_r0"
    target = (f"{run}/model.pt", "--configfile", "starts.yaml")
    files = [f"{f}{x}" for f in ("model.pt", "log.tsv", "run.json") for x in ("", ".prov.json")]
    assert {(rule, outputs) for rule, _, outputs in dry_run(study, *target, target=None)} == {
        ("select_start", frozenset(f"{run}/{f}" for f in files)),
        *(("train_start", frozenset(f"{run}/starts/start+{d}/{f}" for f in files)) for d in (0, 2)),
    }
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(BIN / "snakemake"), *target, "--cores", "2"],
        cwd=study,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # side by side on 2 cores (one thread each): both starts began before either finished
    started_first = (result.stdout + result.stderr).split("Finished jobid:")[0]
    assert started_first.count("rule train_start:") == 2

    settings = json.loads((study / run / "starts/start+0/run.json").read_text())["settings"]
    assert "output_bias_shift" not in settings
    spec = RunSpec("pma", "rl-unet", None, 0, CONFIG["seed"], settings)
    in_turn = trained_in_turn(study / "results/prepared/pma", spec, tmp_path / "in_turn")
    assert in_turn[0]["best_val_loss"] != in_turn[2]["best_val_loss"]
    best = min(in_turn, key=lambda d: in_turn[d]["best_val_loss"])
    kept = tmp_path / f"in_turn/{best}"
    assert (study / run / "model.pt").read_bytes() == (kept / "model.pt").read_bytes()
    log, expected_log = (pd.read_csv(f / "log.tsv", sep="\t") for f in (study / run, kept))
    pd.testing.assert_frame_equal(log.drop(columns="seconds"), expected_log.drop(columns="seconds"))
    selected = json.loads((study / run / "run.json").read_text())
    assert untimed(selected) == untimed(
        {
            **in_turn[best],
            "output_bias_shift": best,
            "output_bias_starts": [
                {"shift": d, **{k: in_turn[d][k] for k in START_FIGURES}} for d in (0, 2)
            ],
        }
    )
    # start +0 trains the weights of the run of one start (only its settings name more starts)
    one, zero = (
        torch.load(f / "model.pt", weights_only=False)
        for f in (test_study / run, kept.parent / "0")
    )
    assert one["run"]["settings"]["output_bias_starts"] == [0]
    assert one["model"].keys() == zero["model"].keys()
    assert all(torch.equal(one["model"][k], zero["model"][k]) for k in one["model"])


def test_audit_walks_table2_back_to_the_raw_images(test_study):
    result = rlnet(test_study, "audit", "results/tables/table2.tsv", "--list")
    assert result.returncode == 0, result.stdout + result.stderr
    made = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("made")]
    assert "results/tables/table2.tsv" in made
    assert "results/models/pma/rl-unet/nall_r0/model.pt" in made
    assert "results/data/synthetic/chest/shard0.tsv" in made
    # synthetic images are made by the synthesis stage: records of their own, no raw input
    assert any(p.startswith("results/data/synthetic/chest/shard0/images/") for p in made)
    assert "0 raw input(s)" in result.stdout


def dry_run(
    study: Path, *args: str, target: str | None = "all"
) -> set[tuple[str, frozenset[str], frozenset[str]]]:
    """The jobs a dry run plans, each as (rule, inputs, outputs): of ``target`` on the tiny
    study's config with more options ``args``, or of ``args`` alone (``target`` None)."""
    command = [str(BIN / "snakemake"), "-n"]
    command += [target, "--configfile", "config/test.yaml", *args] if target else [*args]
    result = subprocess.run(command, cwd=study, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = set()
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", result.stdout, flags=re.M)[1:]:
        fields = dict(re.findall(r"^    (input|output): (.+)$", block, re.M))
        rule = re.match(r"(?:local)?rule (\w+):", block)[1]
        files = {k: frozenset(fields.get(k, "").split(", ")) - {""} for k in ("input", "output")}
        jobs.add((rule, files["input"], files["output"]))
    return jobs


def descendants(jobs: set, rule: str) -> set:
    """The jobs of ``rule`` and every job that reads, directly or through others, a file one of
    them writes: a walk over the jobs' declared inputs and outputs."""
    found = {job for job in jobs if job[0] == rule}
    while True:
        written = {path for _, _, outputs in found for path in outputs}
        more = {job for job in jobs - found if job[1] & written}
        if not more:
            return found
        found |= more


def edited(module: Path, edit) -> tuple[bytes, os.stat_result]:
    """Apply ``edit`` (text -> text) to ``module``; its former bytes and stat, to restore."""
    content, stat = module.read_bytes(), module.stat()
    module.write_text(edit(content.decode()))
    return content, stat


def restore(module: Path, content: bytes, stat: os.stat_result) -> None:
    module.write_bytes(content)
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_comment_docstring_and_version_edits_rerun_nothing_and_the_audit_says_so(test_study):
    """A comment and a docstring edit in rlnet/atomic.py (which every stage runs) and a bumped
    __version__ plan no job; the audit still fails on the changed bytes, naming each module as
    changed only in comments, docstrings or __version__, and accepts them when told to."""
    package = test_study / "workflow" / "rlnet"
    atomic_source = (package / "atomic.py").read_text()
    docstring = atomic_source.split('"""')[1]
    saved = {
        package / "atomic.py": edited(
            package / "atomic.py",
            lambda text: (
                text.replace(docstring, docstring + " Edited.", 1) + "\n# edited by test_study\n"
            ),
        ),
        package / "__init__.py": edited(
            package / "__init__.py",
            lambda text: re.sub(r"__version__ = .*", '__version__ = "9.9"', text),
        ),
    }
    try:
        jobs = planned_jobs(test_study)
        audit = rlnet(test_study, "audit", "results/tables/table2.tsv")
        allowed = rlnet(test_study, "audit", "results/tables/table2.tsv", "--allow-comment-edits")
    finally:
        for module, (content, stat) in saved.items():
            restore(module, content, stat)
    assert jobs == {}
    assert audit.returncode == 1
    for module in ("rlnet.atomic", "rlnet"):
        assert (
            f"results/tables/table2.tsv: module {module} changed only in comments, docstrings or "
            f"__version__ since stage 'table2' made it" in audit.stdout
        )
    assert " changed since stage" not in audit.stdout
    assert allowed.returncode == 0, allowed.stdout
    assert "WARN  results/tables/table2.tsv: module rlnet.atomic changed only in" in allowed.stdout


def with_a_defaulted_training_key(text: str) -> str:
    """The schema with a training key the settings know, ``equal_steps``, that the top-level
    block defaults (false, the behaviour without it): as a new option arrives."""
    schema = yaml.safe_load(text)
    described = {"description": "Test: a new option.", "type": "boolean"}
    schema["definitions"]["training"]["properties"]["equal_steps"] = described
    top = schema["properties"]["training"]["allOf"][1]["properties"]
    top["equal_steps"] = {"description": "Test: its default.", "default": False}
    return yaml.safe_dump(schema, sort_keys=False)


def test_a_new_setting_at_its_default_reruns_nothing(test_study):
    """A schema key with a default, filled into every config by validation, leaves every
    rule's params (the training settings' identity among them) as they were: 0 jobs; set to
    something else it plans the training jobs again."""
    schema = test_study / "workflow" / "schemas" / "config.schema.yaml"
    content, stat = edited(schema, with_a_defaulted_training_key)
    override = test_study / "equal-steps.yaml"
    override.write_text("training: {equal_steps: true}\n")
    try:
        jobs = planned_jobs(test_study)
        command = [str(BIN / "snakemake"), "-n", "--configfile", "config/test.yaml"]
        command += [str(override), "--quiet", "rules"]
        on = subprocess.run(command, cwd=test_study, capture_output=True, text=True)
    finally:
        restore(schema, content, stat)
        override.unlink()
    assert jobs == {}
    assert on.returncode == 0, on.stderr[-3000:]
    assert re.search(r"^train\s+\d+$", on.stdout, re.M), on.stdout


def test_behaviour_edit_reruns_exactly_its_jobs_and_descendants(test_study):
    """Snakemake and the audit agree on code: a behaviour edit of rlnet/metrics.py plans the
    metrics jobs and every job downstream of them (found by walking the inputs and outputs of
    all jobs), no more, and fails the audit naming it."""
    module = test_study / "workflow" / "rlnet" / "metrics.py"
    expected = descendants(dry_run(test_study, "--forceall"), "metrics")
    sweep = CONFIG["sample_size"]
    runs = sum(repeats(m) for p in CONFIG["problems"].values() for m in p["models"])
    runs += sum(len(problem_baselines(CONFIG, p)) for p in CONFIG["problems"])
    runs += len(sweep["sizes"]) * sweep["repeats"] * len(sweep["problems"])
    content, stat = edited(module, lambda text: text + "\nEDITED_BY_TEST_STUDY = True\n")
    try:
        planned = dry_run(test_study)
        jobs = planned_jobs(test_study)
        audit = rlnet(test_study, "audit", "results/tables/table2.tsv", "--allow-comment-edits")
    finally:
        restore(module, content, stat)
    assert planned == expected
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
    assert "module rlnet.metrics changed since stage 'metrics' made it" in audit.stdout
    assert "only in comments" not in audit.stdout
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
