"""The workflow as a Snakemake `module` of a wrapper Snakefile in another folder: the same jobs
as a direct run, every path (package, code inputs, conda envs) resolved into this checkout."""

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

BIN = Path(sys.executable).parent

WRAPPER = """\
configfile: "{root}/config/config.yaml"
configfile: "{root}/config/test.yaml"


module rlnet:
    snakefile:
        "{root}/Snakefile"
    config:
        config


use rule * from rlnet
"""


def snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """snakemake in ``cwd`` without PYTHONPATH: the workflow must find its package itself."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [str(BIN / "snakemake"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def planned(stdout: str) -> list[tuple[str, str, str]]:
    """(rule, input, output) of every job of a dry run, sorted."""
    jobs = []
    for block in stdout.split("\nrule ")[1:]:
        fields = dict(re.findall(r"^    (input|output): (.+)$", block, re.M))
        jobs.append((block.split(":")[0], fields.get("input", ""), fields.get("output", "")))
    return sorted(jobs)


def wrapper(folder: Path) -> Path:
    """A wrapper workflow in ``folder`` importing this checkout's Snakefile as a module."""
    folder.mkdir()
    (folder / "Snakefile").write_text(WRAPPER.format(root=ROOT))
    return folder


def test_a_wrapper_module_plans_the_jobs_of_a_direct_run(tmp_path):
    """The tiny study through `module rlnet` + `use rule * from rlnet`, run in the wrapper's
    folder (where the checkout's config/, envs/ and workflow/ are not), plans job for job what
    `snakemake -s Snakefile --configfile config/test.yaml` plans; no source file is an input of
    either (the code is a param of each rule)."""
    module_run = snakemake(wrapper(tmp_path / "wrapper"), "-n")
    assert module_run.returncode == 0, module_run.stderr[-3000:]
    (tmp_path / "direct").mkdir()
    direct_run = snakemake(
        tmp_path / "direct",
        "-n",
        "-s",
        str(ROOT / "Snakefile"),
        "--configfile",
        str(ROOT / "config" / "test.yaml"),
    )
    assert direct_run.returncode == 0, direct_run.stderr[-3000:]
    jobs = planned(module_run.stdout)
    assert jobs == planned(direct_run.stdout)
    rules = {rule for rule, _, _ in jobs}
    assert {"synthesize", "train", "predict", "table2", "figure_overlays", "all"} <= rules
    assert not [f for _, inputs, _ in jobs for f in inputs.split(", ") if f.endswith(".py")]


def test_a_wrapper_module_finds_the_conda_envs_of_the_checkout(tmp_path):
    """`--containerize` hashes each rule's conda env file: those of this checkout's envs/,
    found from the rule files, not from the wrapper's folder (conda itself may be absent, which
    fails the command after the hashing)."""
    result = snakemake(wrapper(tmp_path / "wrapper"), "--containerize")
    hashed = re.findall(r"Hashing conda environment (\S+)\.$", result.stderr, re.M)
    envs = {(tmp_path / "wrapper" / path).resolve() for path in hashed}
    assert envs == set((ROOT / "envs").glob("*.yaml")), result.stderr[-3000:]
