"""Thread and job packing on a small machine: N one-thread jobs side by side against the same
jobs one after another with N threads each.

Builds one problem's prepared data with the workflow (default: pma of config/config.yaml), then
trains the same runs (default: rl-unet and enc-unet, a few epochs each, from the first start)
twice through `python -m rlnet train`, as a training job does:

- packed: all runs at once, each with 1 torch thread (what `threads: 1` and `--cores N` do);
- threaded: one run after the other, each with N threads (what `threads: N` does).

Records the wall time of each mode, the speed-up of packing (threaded / packed wall), every
run's training seconds, and the load average before and after. Both modes run in this one
invocation, so the ratio is measured under the same load.

    .venv/bin/python benchmarks/bench_packing.py [--config config/config.yaml] [--problem pma]
        [--models rl-unet enc-unet] [--epochs 3] [--cores 2]

Prints the figures and writes benchmarks/results/packing.json.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from snakemake_jobs import build, machine, save_result

from rlnet.config import load, training_settings
from rlnet.settings import identity

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "packing.json"


def train_command(workdir: Path, problem: str, model: str, settings: dict, threads: int, tag: str):
    """The train stage's command line for one run (its first start, +0) into
    ``workdir/packing/<tag>/<model>``."""
    out = workdir / "packing" / tag / model
    return [
        sys.executable, "-m", "rlnet", "train", "--prepared", f"results/prepared/{problem}",
        "--problem", problem, "--model", model, "--start", "+0", "--seed", "1", "--device", "cpu",
        "--settings", json.dumps(settings), "--threads", str(threads),
        "--out-dir", str(out), "--checkpoint-dir", str(out / "checkpoint"),
    ]  # fmt: skip


def run_all(commands: list[list[str]], workdir: Path, parallel: bool) -> float:
    """Run ``commands`` at once or one after another; return the wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    tic = time.perf_counter()
    if parallel:
        processes = [subprocess.Popen(c, cwd=workdir, env=env) for c in commands]
        codes = [p.wait() for p in processes]
    else:
        codes = [subprocess.run(c, cwd=workdir, env=env).returncode for c in commands]
    if any(codes):
        sys.exit(f"a training run failed (exit codes {codes})")
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    parser.add_argument("--problem", default="pma")
    parser.add_argument("--models", nargs="+", default=["rl-unet", "enc-unet"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks/packing")
    args = parser.parse_args()
    config = load(args.config)  # as the workflow reads it: merged over the default
    targets = [f"results/prepared/{args.problem}/cases.tsv"]
    build(args.config, args.workdir, args.cores, targets)
    settings = {**identity(training_settings(config, args.problem)), "max_epochs": args.epochs}
    settings["patience"] = args.epochs
    result = {"machine": machine(), "problem": args.problem, "models": args.models}
    result["epochs"], result["cores"] = args.epochs, args.cores
    modes = {"packed": (1, True), "threaded": (args.cores, False)}
    for tag, (threads, parallel) in modes.items():
        commands = [
            train_command(args.workdir, args.problem, m, settings, threads, tag)
            for m in args.models
        ]
        wall = run_all(commands, args.workdir, parallel)
        seconds = {
            m: json.loads((args.workdir / "packing" / tag / m / "run.json").read_text())[
                "train_seconds"
            ]
            for m in args.models
        }
        result[tag] = {"threads_per_job": threads, "wall_s": round(wall, 1), "train_s": seconds}
    result["packing_speedup"] = round(result["threaded"]["wall_s"] / result["packed"]["wall_s"], 2)
    save_result(result, RESULTS)


if __name__ == "__main__":
    main()
