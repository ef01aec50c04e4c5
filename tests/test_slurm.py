"""The shipped SLURM profile (slurm/config.yaml) on a real single-node SLURM cluster.

tests/slurm/start_cluster.sh starts slurmctld + slurmd (+ munged) on localhost, installing them
with apt-get when missing; the test skips only where that is impossible (no apt-get, not root).
The workflow then runs on config/test.yaml through `snakemake --profile slurm` from the
repository root, every job through sbatch, and its outputs must equal a local run's byte for
byte (the session's tiny study, which has made them already). Then one job is made to fail,
Snakemake must say so, and a rerun after the fix must run only what is missing.

Overrides of the profile for this cluster, and why (everything else is the shipped profile):
  --sdm env-modules   no conda here; the profile's `conda` cannot be emptied from the command
                      line (--sdm takes apptainer|conda|env-modules), and env-modules is a no-op
                      for rules without an `envmodules:` directive (none of ours have one).
  --slurm-status-command squeue   no slurmdbd here, so sacct (the plugin's default) fails.
  --slurm-init-seconds-before-status-checks 2   the first status check after 2 s, not 40 s.
  --slurm-keep-successful-logs   keep the per-job SLURM logs to check them.
Status polling costs ~14 s per DAG level: the DAG is kept to the data chain of pma and sfa.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONFIG = ROOT / "config" / "test.yaml"
START = ROOT / "tests" / "slurm" / "start_cluster.sh"
STOP = ROOT / "tests" / "slurm" / "stop_cluster.sh"
RUN_TIMEOUT_S = 240  # one snakemake run; timeout -s INT (Snakemake ignores SIGTERM while waiting)


def targets(problems=("pma", "sfa")) -> list[str]:
    """What both runs build and must produce byte-identical. As the workflow grows (metrics,
    tables, figures), add their files here, keeping the DAG shallow (~14 s per level)."""
    out = []
    for problem in problems:
        out += [f"results/data/{problem}/split.tsv", f"results/prepared/{problem}/cases.tsv"]
    return out


def compared_files(problems=("pma", "sfa")) -> list[str]:
    """Files compared byte for byte: the targets and the split reports."""
    return targets(problems) + [f"results/data/{p}/split_counts.tsv" for p in problems]


def can_install() -> str | None:
    """None when SLURM is installed or installable here, else the reason it is not."""
    if all(shutil.which(t) for t in ("sbatch", "slurmctld", "slurmd", "munged")):
        return None if os.geteuid() == 0 else "starting slurmd needs root"
    if not shutil.which("apt-get"):
        return "SLURM is not installed and apt-get is not available to install it"
    if os.geteuid() != 0:
        return "SLURM is not installed and installing it needs root"
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A running localhost cluster: the environment for its clients, and its state folder."""
    reason = can_install()
    if reason:
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm")
    started = time.monotonic()
    try:
        proc = subprocess.run(
            ["bash", str(START), str(state)], capture_output=True, text=True, timeout=600
        )
        if proc.returncode == 3:
            pytest.skip(f"SLURM cannot be installed here: {proc.stderr.strip()}")
        if proc.returncode == 4:
            pytest.skip(f"no test cluster beside this host's own SLURM: {proc.stderr.strip()}")
        assert proc.returncode == 0, f"cluster did not start:\n{proc.stderr}"
        env = dict(os.environ)
        env.update(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
        print(f"SLURM cluster up in {time.monotonic() - started:.1f} s")
        yield {"env": env, "state": state}
    finally:
        subprocess.run(["bash", str(STOP), str(state)], timeout=60)


def snakemake(wd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    """snakemake from the repository root (so `--profile slurm` is the shipped one) in ``wd``."""
    cmd = ["timeout", "-s", "INT", str(RUN_TIMEOUT_S), str(BIN / "snakemake"), *args]
    cmd += ["--configfile", str(CONFIG), "--directory", str(wd)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)


def slurm_run(wd: Path, env: dict) -> subprocess.CompletedProcess:
    # Targets first: --sdm takes several values.
    return snakemake(
        wd,
        env,
        *targets(),
        "--profile",
        "slurm",
        "--sdm",
        "env-modules",
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-keep-successful-logs",
    )


def submitted(output: str) -> dict[str, str]:
    """SLURM job id -> log path of every job the run submitted."""
    found = re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?$", output, re.M)
    return dict(found)


def submitted_rules(output: str) -> list[str]:
    """Rule of each submitted job, from the slurm_logs/rule_<name>/ part of the log path."""
    return sorted(re.search(r"rule_(\w+)", log).group(1) for log in submitted(output).values())


def completed_in_slurm(state: Path) -> dict[str, str]:
    """job id -> final state, from SLURM's own job completion log (JobCompType=filetxt)."""
    text = (state / "log" / "jobcomp.txt").read_text()
    return dict(re.findall(r"JobId=(\d+) .*?JobState=(\w+)", text))


def same_bytes(a: Path, b: Path, files: list[str]) -> list[str]:
    return [f for f in files if (a / f).read_bytes() != (b / f).read_bytes()]


def test_profiles_parse_and_plan_without_a_cluster(tmp_path):
    """Every profile key is a Snakemake 9 option (an unknown one stops Snakemake), and the
    slurm profile plans the jobs with the rules' threads as cpus_per_task."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = snakemake(
        tmp_path, env, *targets(("pma",)), "--profile", "slurm", "-n", "--sdm", "env-modules"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cpus_per_task=1" in proc.stdout
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--profile", "profiles/local", "-n", "all", "--quiet", "rules"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )  # what `make run` runs, on the embedded default config
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slurm
@pytest.mark.slow
def test_profile_runs_on_slurm_and_recovers_from_a_failed_job(cluster, test_study, tmp_path):
    """The reference is the session's tiny study (conftest ``test_study``): a local run of the
    same config that has built these files already."""
    env, state = cluster["env"], cluster["state"]
    local = test_study
    t0 = time.monotonic()

    # 1. Everything through sbatch.
    wd = tmp_path / "slurm"
    proc = slurm_run(wd, env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    jobs = submitted(output)
    n_jobs = int(re.search(r"^total\s+(\d+)", output, re.M).group(1))
    assert len(jobs) == n_jobs == 8, output[-4000:]  # every job through sbatch
    assert submitted_rules(output) == sorted(
        ["synthesize"] * 2 + ["manifest", "split", "prepare"] * 2
    )
    states = completed_in_slurm(state)
    for job_id, log in jobs.items():
        assert states.get(job_id) == "COMPLETED", (job_id, states)
        assert Path(log).is_file(), f"no SLURM log {log}"
        assert Path(log).name == f"{job_id}.log"
    assert not same_bytes(local, wd, compared_files())
    t_slurm = time.monotonic() - t0

    # 2. One job fails: sfa's outputs are removed and an image of the chest phantom is missing,
    #    so sfa's manifest job fails (pma's outputs exist and are untouched).
    for folder in ("results/data/sfa", "results/prepared/sfa"):
        shutil.rmtree(wd / folder)
    image = wd / "results/data/synthetic/chest/shard1/images/chest00020.nii.gz"
    hidden = image.with_name("hidden.nii.gz")
    image.rename(hidden)
    proc = slurm_run(wd, env)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-4000:]
    assert "Error in rule manifest" in output, output[-4000:]
    assert "problem=sfa" in output and "problem=pma" not in output
    states = completed_in_slurm(state)
    attempts = submitted(output)
    assert {states.get(j) for j in attempts} == {"FAILED"}, (attempts, states)
    retries = yaml.safe_load((ROOT / "slurm" / "config.yaml").read_text()).get("retries", 0)
    assert submitted_rules(output) == ["manifest"] * (1 + retries)  # the profile's retries
    t_fail = time.monotonic() - t0 - t_slurm

    # 3. Fixed: the rerun completes only what is missing (sfa's manifest, split, prepare).
    hidden.rename(image)
    proc = slurm_run(wd, env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert submitted_rules(output) == ["manifest", "prepare", "split"]
    assert all("problem=sfa" in block for block in re.findall(r"wildcards: .*", output))
    assert not same_bytes(local, wd, compared_files())
    t_rerun = time.monotonic() - t0 - t_slurm - t_fail
    print(f"slurm {t_slurm:.0f} s, failing run {t_fail:.0f} s, rerun {t_rerun:.0f} s")
