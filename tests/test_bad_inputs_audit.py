"""Bad-input catalogue, audit part: every edit of what made a number is caught and named.

Each case damages one thing after the pipeline made a file (an input, an output, a record, the
code, the user's data) and asserts the audit's message. The stages run through ``rlnet.cli``
in-process, or as ``python -m rlnet`` on a copy of the package where the code itself is edited.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import PROBLEM_2D, ROOT, biomarker, write_toy_dataset
from rlnet import cli, io, provenance, tsv

SPLIT = json.dumps({"train": 0.5, "val": 0.25, "test": 0.25, "strata": 1})


@pytest.fixture(autouse=True)
def clean_checkout(monkeypatch):
    """Records made here come from a committed checkout (the developer's tree may be dirty)."""
    monkeypatch.setattr(
        provenance, "git_state", lambda: {"git_commit": "0" * 40, "git_dirty": False}
    )


def split_argv(manifest: Path, out: Path) -> list[str]:
    """The split stage reading ``manifest``, writing ``out`` and a counts table beside it."""
    return [
        "split",
        "--manifest",
        str(manifest),
        "--biomarker",
        biomarker("pma").to_json(),
        "--split",
        SPLIT,
        "--seed",
        "1",
        "--out",
        str(out),
        "--report",
        str(out.with_name("counts.tsv")),
    ]


@pytest.fixture
def study(tmp_path, monkeypatch):
    """A results folder in the working directory: raw manifest (outside results/) ->
    results/split.tsv (split stage) -> results/again.tsv (split of a copy made by a stage)."""
    monkeypatch.chdir(tmp_path)
    tsv.write_table(tmp_path / "raw" / "manifest.tsv", write_toy_dataset(tmp_path / "raw", n=12))
    assert cli.main(split_argv(Path("raw/manifest.tsv"), Path("results/split.tsv"))) == 0
    return tmp_path


def audit(*args: str) -> tuple[int, str]:
    """Exit status and printed lines of ``rlnet audit``."""
    from contextlib import redirect_stdout
    from io import StringIO

    buffer = StringIO()
    with redirect_stdout(buffer):
        status = cli.main(["audit", *args])
    return status, buffer.getvalue()


def test_a_clean_chain_passes(study):
    status, out = audit("results/split.tsv")
    assert status == 0 and out.startswith("ok: 1 file(s) made by the pipeline")
    assert "1 raw input(s)" in out


def test_a_file_in_results_without_record_is_a_failure(study, caplog):
    """A copy of the manifest inside results/ (as if a stage made it, its record deleted) is
    not taken for a raw input."""
    shutil.copy(study / "raw/manifest.tsv", study / "results/manifest.tsv")
    assert cli.main(split_argv(Path("results/manifest.tsv"), Path("results/again.tsv"))) == 0
    status, out = audit("results/again.tsv")
    assert status == 1
    assert "input results/manifest.tsv is inside results but has no provenance record" in out


def test_an_edited_input_after_its_consumer_lost_its_record(study):
    """The issue's case: table <- metrics (record deleted) <- predictions (then edited). The
    record-less file in the middle is a failure, so the edit cannot hide behind it."""
    middle, top = Path("results/middle.tsv"), Path("results/top.tsv")
    middle.write_text("made from split.tsv\n")
    provenance.write_records("table2", [], [Path("results/split.tsv")], [middle])
    top.write_text("made from middle.tsv\n")
    provenance.write_records("table2", [], [middle], [top])
    assert audit(str(top))[0] == 0
    provenance.sidecar(middle).unlink()
    Path("results/split.tsv").write_text("edited\n")
    status, out = audit(str(top))
    assert status == 1
    assert "input results/middle.tsv is inside results but has no provenance record" in out


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda text: text[: len(text) // 2], "damaged provenance record (not JSON"),
        (lambda text: "", "damaged provenance record (not JSON"),
        (lambda text: "[1, 2]", "damaged provenance record (not a JSON object)"),
        (
            lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "sha256"}),
            "damaged provenance record (no key sha256)",
        ),
        (
            lambda text: json.dumps(
                {**json.loads(text), "code": {"rlnet": "0.1.0", "git_commit": None}}
            ),
            "damaged provenance record (no key code.modules)",
        ),
        (
            lambda text: json.dumps(
                {**json.loads(text), "code": {**json.loads(text)["code"], "behaviour": [1]}}
            ),
            "damaged provenance record (no key code.behaviour)",
        ),
    ],
    ids=["truncated", "empty", "not-an-object", "no-sha256", "no-module-hashes", "behaviour"],
)
def test_a_damaged_record_is_one_line_naming_it(study, caplog, damage, fragment):
    record = provenance.sidecar("results/split.tsv")
    record.write_text(damage(record.read_text()))
    status, _ = audit("results/split.tsv")
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert status == 1 and len(errors) == 1 and "\n" not in errors[0]
    assert f"{record}: {fragment}" in errors[0]


def test_a_file_made_from_a_dirty_checkout_fails_unless_allowed(study, monkeypatch):
    monkeypatch.setattr(
        provenance, "git_state", lambda: {"git_commit": "a" * 40, "git_dirty": True}
    )
    assert cli.main(split_argv(Path("raw/manifest.tsv"), Path("results/split.tsv"))) == 0
    status, out = audit("results/split.tsv")
    assert status == 1 and "from a checkout with uncommitted edits" in out
    status, out = audit("results/split.tsv", "--allow-dirty")
    assert status == 0 and out.startswith("WARN  results/split.tsv: made by stage 'split'")


def test_the_cache_still_catches_an_edit_and_full_rehashes(study):
    """The hash cache is keyed on size and mtime: an edit is caught; an edit that forges the
    old size and mtime is caught by --full only."""
    assert audit("results/split.tsv")[0] == 0
    assert (study / "results" / provenance.CACHE_NAME).exists()
    manifest = study / "raw/manifest.tsv"
    stat, text = manifest.stat(), manifest.read_text()
    forged = text.replace("c00", "c99", 1)
    assert len(forged) == len(text)
    manifest.write_text(forged)
    assert "input raw/manifest.tsv changed" in audit("results/split.tsv")[1]
    manifest.write_text(text)
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert audit("results/split.tsv")[0] == 0  # the cache holds the true content again
    manifest.write_text(forged)
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert audit("results/split.tsv")[0] == 0  # forged size and mtime: the cache trusts it
    status, out = audit("results/split.tsv", "--full")
    assert status == 1 and "input raw/manifest.tsv changed" in out


def python_m_rlnet(package: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m rlnet`` from the package copy in ``package`` (its workflow/ folder)."""
    env = {**os.environ, "PYTHONPATH": str(package)}
    return subprocess.run(
        [sys.executable, "-m", "rlnet", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_an_edited_module_fails_the_audit_naming_it(tmp_path):
    """A copy of the package makes split.tsv; editing a module the split stage runs fails the
    audit naming that module, saying whether only comments and docstrings changed (accepted
    with --allow-comment-edits) or its behaviour; editing one it does not run (training)
    changes nothing."""
    package = tmp_path / "workflow"
    shutil.copytree(
        ROOT / "workflow" / "rlnet", package / "rlnet", ignore=shutil.ignore_patterns("__pycache__")
    )
    tsv.write_table(tmp_path / "raw" / "manifest.tsv", write_toy_dataset(tmp_path / "raw", n=12))
    made = python_m_rlnet(
        package, tmp_path, *split_argv(Path("raw/manifest.tsv"), Path("results/split.tsv"))
    )
    assert made.returncode == 0, made.stderr
    with open(package / "rlnet" / "training" / "loop.py", "a") as handle:
        handle.write("\nEDITED = True\n")
    result = python_m_rlnet(package, tmp_path, "audit", "results/split.tsv", "--allow-dirty")
    assert result.returncode == 0, result.stdout + result.stderr

    split = package / "rlnet" / "split.py"
    source = split.read_text()
    docstring = source.split('"""')[1]
    split.write_text(source.replace(docstring, docstring + " Edited.", 1) + "\n# edited\n")
    result = python_m_rlnet(package, tmp_path, "audit", "results/split.tsv", "--allow-dirty")
    comments_only = (
        "results/split.tsv: module rlnet.split changed only in comments, docstrings or "
        "__version__ since stage 'split' made it"
    )
    assert result.returncode == 1
    assert f"FAIL  {comments_only}" in result.stdout
    assert "rlnet.split changed since" not in result.stdout
    allowed = python_m_rlnet(
        package, tmp_path, "audit", "results/split.tsv", "--allow-dirty", "--allow-comment-edits"
    )
    assert allowed.returncode == 0, allowed.stdout
    assert f"WARN  {comments_only}" in allowed.stdout

    with open(split, "a") as handle:
        handle.write("\nEDITED = True\n")
    for extra in ((), ("--allow-comment-edits",)):
        result = python_m_rlnet(
            package, tmp_path, "audit", "results/split.tsv", "--allow-dirty", *extra
        )
        assert result.returncode == 1
        assert (
            "FAIL  results/split.tsv: module rlnet.split changed since stage 'split' made it"
            in result.stdout
        )
        assert "only in comments" not in result.stdout


def workflow_run(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """snakemake on the repository's Snakefile with ``folder`` as the working directory."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    command = [str(bin_dir / "snakemake"), *args, "--cores", "1", "-s", str(ROOT / "Snakefile")]
    command += ["--directory", str(folder), "--replace-workflow-config"]  # a whole study
    command += ["--configfile", str(folder / "config.yaml")]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)


def test_an_edited_user_image_reruns_its_jobs_and_fails_the_audit(tmp_path):
    """A user's manifest and every image it lists are inputs: of the manifest job for
    Snakemake, of its records for the audit. Both see an edited image."""
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    table = write_toy_dataset(tmp_path / "raw", n=16)
    tsv.write_table(tmp_path / "raw" / "manifest.tsv", table)
    problem = config["problems"]["pma"]
    problem["source"] = {"manifest": str(tmp_path / "raw" / "manifest.tsv")}
    problem["grid"] = PROBLEM_2D["grid"]
    problem["split"] = {"train": 0.5, "val": 0.25, "test": 0.25, "strata": 1}
    config["problems"] = {"pma": problem}
    config["sample_size"]["problems"] = ["pma"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    target = "results/data/pma/split_counts.tsv"
    made = workflow_run(tmp_path, target)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-3000:]
    assert "Nothing to be done" in workflow_run(tmp_path, "-n", target).stdout
    status, out = audit_in(tmp_path, "results/data/pma/split.tsv", "--allow-dirty")
    assert status == 0, out
    image = Path(table["image"].iloc[3])
    array, geometry = io.read_image(image)
    io.write_image(image, np.flipud(array), geometry)
    plan = workflow_run(tmp_path, "-n", target).stdout
    jobs = sorted(line.split()[1] for line in plan.splitlines() if line.startswith("rule "))
    assert jobs == ["manifest:", "split:"]
    status, out = audit_in(tmp_path, "results/data/pma/split.tsv", "--allow-dirty")
    assert status == 1
    assert f"results/data/pma/manifest.tsv: input {image} changed after" in out


def audit_in(folder: Path, *args: str) -> tuple[int, str]:
    """``audit`` run from ``folder`` (where its results/ is). The workflow runs from this
    checkout, whose tree may be dirty while it is being edited: callers allow that."""
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        return audit(*args)
    finally:
        os.chdir(cwd)


def test_a_failed_rerun_leaves_no_record_of_the_file_it_did_not_write(study, caplog):
    Path("raw/manifest.tsv").write_text("not a manifest\n")
    assert cli.main(split_argv(Path("raw/manifest.tsv"), Path("results/split.tsv"))) == 1
    Path("results/split.tsv").unlink()  # as Snakemake removes the outputs of a failed job
    assert not provenance.sidecar("results/split.tsv").exists()
