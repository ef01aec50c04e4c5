"""Time the data stage: synthetic generation per phantom and `prepare` per problem.

For each phantom of the config, a sample of cases (default: one shard, `phantoms.shard_size`
items) is generated through `rlnet.datasets.synthesis.write_shard` into a temporary folder, so
NIfTI writing (gzip) and the reference measures (areas, Agatston) count. Each problem's
manifest is then built from that shard (`manifest_from_shards`), split (`rlnet.split
.make_split`, with the problem's settings; one stratum if the sample is too small for them) and
prepared (`rlnet.prepare.prepare`). Rates are cases per second of wall time and of process CPU
time (the machine may be shared: the load average is recorded; the CPU-time rate is what an idle
core would give).

The wall time of the whole default data stage (`synthesize` x shards, then `manifest`, `split`,
`prepare` per problem) is extrapolated from those rates by scheduling the jobs on 2 parallel
workers (`--jobs`), each job paying a measured Python start-up (interpreter + the data-stage
imports), and compared with the budget: 10% of a 30-minute study, 180 s.

    .venv/bin/python benchmarks/bench_data.py [--config config/config.yaml] [--sample N]

Prints a table and writes benchmarks/results/data.json.
"""

import argparse
import heapq
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rlnet import config as rlconfig
from rlnet.datasets import synthesis, synthetic
from rlnet.prepare import prepare
from rlnet.split import SplitError, make_split

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "data.json"
BUDGET_S = 180.0  # 10% of the 30-minute default study


class Clock:
    """Wall and process-CPU seconds of a block."""

    def __enter__(self) -> "Clock":
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


def phantoms_of(config: dict) -> dict[str, dict]:
    return {k: v for k, v in config["phantoms"].items() if isinstance(v, dict)}


def generate(phantom: str, settings: dict, config: dict, n: int, out: Path):
    """(shard table, Clock) of generating phantom indices 0..n-1 into ``out``."""
    with Clock() as clock:
        table = synthesis.write_shard(
            phantom, settings, config["seed"], range(n), out, config["evaluation"]["agatston"]
        )
    return table, clock


def split_for(manifest: pd.DataFrame, problem: str, settings: dict, config: dict):
    """The problem's split as the `split` rule makes it; one stratum if the sample is too small
    for the configured strata. Returns (split, strata used)."""
    fractions = (settings["split"]["train"], settings["split"]["val"], settings["split"]["test"])
    n_strata = settings["split"].get("strata", 5 if problem == "cac" else 4)
    kw = {"by_risk": problem == "cac", "scheme": config["evaluation"]["risk_scheme"]}
    try:
        return make_split(manifest, fractions, config["seed"], n_strata=n_strata, **kw), n_strata
    except SplitError:
        return make_split(manifest, fractions, config["seed"], n_strata=1, **kw), 1


def prepare_problem(problem: str, settings: dict, shard: pd.DataFrame, config: dict, out: Path):
    """(manifest+split Clock, prepare Clock, number of cases, strata) for one problem."""
    with Clock() as clock_ms:
        manifest = synthetic.manifest_from_shards([shard], settings["source"], "benchmark")
        split, strata = split_for(manifest, problem, settings, config)
    with Clock() as clock_p:
        prepare(manifest, split, settings, out)
    return clock_ms, clock_p, len(manifest), strata


STARTUP_CODE = (
    "import rlnet.cli, rlnet.prepare, rlnet.split, rlnet.datasets.synthetic, "
    "rlnet.phantoms.chest, rlnet.phantoms.heart, rlnet.phantoms.liver"
)


def startup_seconds(rounds: int = 2) -> float:
    """Best wall time of a Python start-up importing the data-stage modules: what every
    Snakemake job of the data stage pays before its work."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", STARTUP_CODE], env=env, check=True)
        times.append(time.perf_counter() - t0)
    return min(times)


def schedule(jobs: list[dict], workers: int) -> float:
    """Makespan of jobs {name, seconds, after: [names]} greedily run on ``workers`` workers,
    ready jobs longest first (Snakemake's order differs; this is close for a short DAG)."""
    done: dict[str, float] = {}
    pending = list(jobs)
    free = [0.0] * workers
    heapq.heapify(free)
    running: list[tuple[float, str]] = []
    now = 0.0
    while pending or running:
        ready = [j for j in pending if all(a in done for a in j["after"])]
        ready.sort(key=lambda j: -j["seconds"])
        while ready and free and free[0] <= now:
            job = ready.pop(0)
            pending.remove(job)
            heapq.heappop(free)
            heapq.heappush(running, (now + job["seconds"], job["name"]))
        end, name = heapq.heappop(running)
        now = end
        done[name] = end
        heapq.heappush(free, end)
    return now


def extrapolate(config: dict, rates: dict, startup: float, workers: int, key: str) -> dict:
    """Data-stage jobs of the config with durations from ``rates`` (``key``: wall or cpu)."""
    shard_size = config["phantoms"].get("shard_size", 1)
    jobs = []
    for phantom, settings in phantoms_of(config).items():
        r = rates["synthesis"][phantom]
        for k in range(synthetic.n_shards(settings, shard_size)):
            items = len(synthetic.shard_range(settings, shard_size, k))
            jobs.append(
                {
                    "name": f"synthesize/{phantom}/{k}",
                    "seconds": startup + items / r[f"items_per_s_{key}"],
                    "after": [],
                    "phantom": phantom,
                }
            )
    for problem, settings in config["problems"].items():
        phantom = settings["source"].get("synthetic")
        if phantom is None:
            continue
        r = rates["prepare"][problem]
        n_cases = rates["synthesis"][phantom]["cases_per_item"] * synthetic.n_items(
            config["phantoms"][phantom]
        )
        shards = [j["name"] for j in jobs if j.get("phantom") == phantom]
        per_case_ms = r[f"manifest_split_s_{key}"] / r["cases"]
        jobs.append(
            {
                "name": f"manifest/{problem}",
                "seconds": startup + 0.5 * per_case_ms * n_cases,
                "after": shards,
            }
        )
        jobs.append(
            {
                "name": f"split/{problem}",
                "seconds": startup + 0.5 * per_case_ms * n_cases,
                "after": [f"manifest/{problem}"],
            }
        )
        jobs.append(
            {
                "name": f"prepare/{problem}",
                "seconds": startup + n_cases / r[f"cases_per_s_{key}"],
                "after": [f"split/{problem}"],
            }
        )
    total_job_s = sum(j["seconds"] for j in jobs)
    return {
        "jobs": len(jobs),
        "sum_of_job_seconds": round(total_job_s, 1),
        "wall_seconds": round(schedule(jobs, workers), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument(
        "--sample", type=int, default=None, help="items per phantom (default: one shard)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="parallel jobs of the extrapolation")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    config = rlconfig.load(args.config)
    shard_size = config["phantoms"].get("shard_size", 1)
    load_before = os.getloadavg()
    result: dict = {
        "benchmark": "synthetic generation (write_shard, NIfTI included) and prepare, cases/s",
        "config": str(args.config.resolve().relative_to(ROOT))
        if args.config.resolve().is_relative_to(ROOT)
        else str(args.config),
        "budget_seconds": BUDGET_S,
        "parallel_jobs": args.jobs,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": f"{platform.machine()}, {platform.node()}",
        "synthesis": {},
        "prepare": {},
    }
    print(f"{'phantom':>8} {'items':>6} {'cases':>6} {'wall s':>7} {'cases/s':>8} {'cpu c/s':>8}")
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        tmp = Path(tmp)
        shards = {}
        for phantom, settings in phantoms_of(config).items():
            n = min(args.sample or shard_size, synthetic.n_items(settings))
            table, clock = generate(phantom, settings, config, n, tmp / "synthetic" / phantom)
            shards[phantom] = table
            size = sum(f.stat().st_size for f in (tmp / "synthetic" / phantom).rglob("*.nii.gz"))
            row = {
                "shape": settings["shape"],
                "items": n,
                "cases": len(table),
                "cases_per_item": len(table) / n,
                "wall_s": round(clock.wall, 3),
                "cpu_s": round(clock.cpu, 3),
                "cases_per_s_wall": round(len(table) / clock.wall, 2),
                "cases_per_s_cpu": round(len(table) / clock.cpu, 2),
                "items_per_s_wall": round(n / clock.wall, 3),
                "items_per_s_cpu": round(n / clock.cpu, 3),
                "nifti_mb_per_case": round(size / len(table) / 2**20, 4),
            }
            result["synthesis"][phantom] = row
            print(
                f"{phantom:>8} {n:>6} {len(table):>6} {clock.wall:>7.2f} "
                f"{row['cases_per_s_wall']:>8.1f} {row['cases_per_s_cpu']:>8.1f}"
            )
        print(
            f"\n{'problem':>8} {'cases':>6} {'strata':>6} {'prep s':>7} "
            f"{'cases/s':>8} {'cpu c/s':>8}"
        )
        for problem, settings in config["problems"].items():
            phantom = settings["source"].get("synthetic")
            if phantom is None:
                print(f"{problem:>8}  not synthetic: skipped")
                continue
            ms, prep, n_cases, strata = prepare_problem(
                problem, settings, shards[phantom], config, tmp / "prepared" / problem
            )
            row = {
                "phantom": phantom,
                "cases": n_cases,
                "strata_used": strata,
                "manifest_split_s_wall": round(ms.wall, 3),
                "manifest_split_s_cpu": round(ms.cpu, 3),
                "prepare_s_wall": round(prep.wall, 3),
                "prepare_s_cpu": round(prep.cpu, 3),
                "cases_per_s_wall": round(n_cases / prep.wall, 2),
                "cases_per_s_cpu": round(n_cases / prep.cpu, 2),
            }
            result["prepare"][problem] = row
            print(
                f"{problem:>8} {n_cases:>6} {strata:>6} {prep.wall:>7.2f} "
                f"{row['cases_per_s_wall']:>8.1f} {row['cases_per_s_cpu']:>8.1f}"
            )
    startup = startup_seconds()
    result["job_startup_s"] = round(startup, 3)
    result["study"] = {
        "n_items": {p: synthetic.n_items(s) for p, s in phantoms_of(config).items()},
        "shard_size": shard_size,
        "as_measured": extrapolate(config, result, startup, args.jobs, "wall"),
        "from_cpu_time": extrapolate(config, result, startup, args.jobs, "cpu"),
    }
    est, idle = result["study"]["as_measured"], result["study"]["from_cpu_time"]
    result["within_budget"] = est["wall_seconds"] <= BUDGET_S
    result["load_avg_before"] = [round(v, 2) for v in load_before]
    result["load_avg_after"] = [round(v, 2) for v in os.getloadavg()]
    print(
        f"\njob start-up (python + rlnet data imports): {startup:.2f} s\n"
        f"whole data stage of {result['config']} ({est['jobs']} jobs, {args.jobs} parallel): "
        f"{est['wall_seconds']:.0f} s as measured, {idle['wall_seconds']:.0f} s from CPU time "
        f"(idle cores) -- budget {BUDGET_S:.0f} s (10% of 30 min): "
        f"{'within' if result['within_budget'] else 'OVER'}\n"
        f"load average before {result['load_avg_before']}, after {result['load_avg_after']} "
        f"on {os.cpu_count()} cores"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {args.out}")
    return 0 if result["within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
