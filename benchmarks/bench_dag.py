"""Time DAG building at the paper's scale: `snakemake -n all --configfile config/paper.yaml`.

The sample-size sweep multiplies the training jobs (problems x sizes x repeats), so the dry run
is timed for several `sample_size.repeats` values (a copy of config/paper.yaml per value). Each
figure is the best of --rounds wall-clock runs of the whole command (Python start-up, parsing,
config validation, DAG building and printing). Target: < 15 s for the paper's configuration.

    .venv/bin/python benchmarks/bench_dag.py [--repeats 1 5 10 20] [--rounds 2]

Prints a table and writes benchmarks/results/dag.json.
"""

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TARGET_S = 15.0


def paper_config(repeats: int, folder: Path) -> Path:
    """config/paper.yaml with sample_size.repeats replaced (a complete config file: `--config
    sample_size=...` would replace the whole block, and its values arrive as strings)."""
    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    config["sample_size"]["repeats"] = repeats
    path = folder / f"paper_repeats{repeats}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def dry_run(repeats: int, workdir: Path) -> tuple[float, int, dict[str, int]]:
    """Seconds, total jobs and jobs per rule of one dry run of `all` at the paper's scale."""
    cmd = [
        str(SNAKEMAKE),
        "-n",
        "--quiet",
        "rules",
        "--cores",
        "1",
        "--directory",
        str(workdir),
        "--configfile",
        str(paper_config(repeats, workdir)),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"dry run failed (repeats={repeats}):\n{proc.stderr[-3000:]}")
    counts = {
        rule: int(n)
        for rule, n in re.findall(r"^(\w+)\s+(\d+)$", proc.stdout + proc.stderr, re.M)
        if rule != "total"
    }
    total = re.search(r"^total\s+(\d+)$", proc.stdout + proc.stderr, re.M)
    return elapsed, int(total.group(1)) if total else sum(counts.values()), counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "dag.json")
    args = parser.parse_args(argv)

    rows = []
    print(f"{'repeats':>8} {'jobs':>6} {'train':>6} {'best s':>8} {'all s':>18}")
    for repeats in args.repeats:
        times = []
        with tempfile.TemporaryDirectory() as tmp:  # a fresh workdir: nothing exists yet
            for _ in range(args.rounds):
                elapsed, total, counts = dry_run(repeats, Path(tmp))
                times.append(round(elapsed, 2))
        best = min(times)
        rows.append(
            {
                "repeats": repeats,
                "jobs": total,
                "jobs_per_rule": counts,
                "seconds_best": best,
                "seconds_all": times,
                "under_target": best < TARGET_S,
            }
        )
        print(
            f"{repeats:>8} {total:>6} {counts.get('train', 0):>6} {best:>8.2f} "
            f"{' '.join(f'{t:.2f}' for t in times):>18}"
        )
    result = {
        "benchmark": "snakemake -n all, config/paper.yaml with sample_size.repeats varied",
        "target_seconds": TARGET_S,
        "rounds": args.rounds,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.node()}",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {args.out}")
    return 0 if all(r["under_target"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
