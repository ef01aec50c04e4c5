"""Run Snakemake on a study folder and read back the job times it recorded.

Snakemake keeps one metadata record per output file under ``.snakemake/metadata`` with the
rule, the job hash and the job's start and end (epoch seconds); the benchmarks read job time
from there, so it excludes Snakemake's own start-up and DAG building.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SNAKEFILE = Path(__file__).resolve().parents[1] / "Snakefile"


def run(directory: Path, configfile: str, *args: str) -> float:
    """Run snakemake (1 core) in ``directory``; return the wall-clock seconds. ``args`` start
    with the targets: --forcerun and --configfile take several values and would swallow them."""
    env_path = f"{SNAKEMAKE.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    command = [str(SNAKEMAKE), *args, "-s", str(SNAKEFILE), "--cores", "1"]
    command += ["--configfile", configfile]
    start = time.perf_counter()
    result = subprocess.run(
        command, cwd=directory, capture_output=True, text=True, env={"PATH": env_path}
    )
    wall = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"snakemake failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return wall


def build(config: Path, workdir: Path, cores: int, targets: list[str]) -> float:
    """Run snakemake on ``targets`` in ``workdir`` with ``cores`` (resuming what is there; jobs a
    kill left incomplete rerun, training from its checkpoint), output streamed to the terminal;
    return the wall seconds. Fails loudly on a failed job. ``config`` is a whole study (the
    benchmarks write complete configs): it replaces the default instead of merging over it."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ['PATH']}"}
    command = [str(SNAKEMAKE), *targets, "-s", str(SNAKEFILE), "--directory", str(workdir)]
    command += ["--cores", str(cores), "--replace-workflow-config"]
    command += ["--configfile", str(config.resolve()), "--rerun-incomplete"]
    tic = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    return time.perf_counter() - tic


def job_spans(directory: Path) -> dict[str, list[tuple[float, float]]]:
    """(start, end) epoch seconds of every finished job, by rule (a job with several outputs
    counted once, by job hash)."""
    jobs: dict[tuple[str, str], tuple[float, float]] = {}
    for path in (directory / ".snakemake" / "metadata").iterdir():
        record = json.loads(path.read_text())
        if record.get("starttime") and record.get("endtime"):
            jobs[(record["rule"], record["job_hash"])] = (record["starttime"], record["endtime"])
    spans: dict[str, list[tuple[float, float]]] = {}
    for (rule, _), span in sorted(jobs.items()):
        spans.setdefault(rule, []).append(span)
    return spans


def job_times(directory: Path, rules: tuple[str, ...], since: float) -> dict[str, dict]:
    """Per rule: jobs, total and longest job seconds, over the jobs of ``rules`` that started
    after ``since`` (epoch s)."""
    per_rule: dict[str, dict] = {}
    for rule, spans in sorted(job_spans(directory).items()):
        seconds = [end - start for start, end in spans if rule in rules and start >= since]
        if seconds:
            per_rule[rule] = {
                "jobs": len(seconds),
                "job_s": round(sum(seconds), 2),
                "max_job_s": round(max(seconds), 2),
            }
    return per_rule


def save_result(result: dict, path: Path) -> None:
    """Record the load average at the end in ``result["machine"]``, write ``result`` as JSON
    to ``path`` and print it."""
    result.setdefault("machine", {})["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def machine() -> dict:
    """What the figures were measured on."""
    import platform

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
