"""Time the evaluation of a study whose predictions are on disk: metrics, tests and tables.

Forces every evaluation rule (metrics per trained model, Tables II-IV, the liver comparison and
the sample-size summary) with `snakemake tables --forcerun ... --cores 1` and reports the job
time per rule (from Snakemake's metadata) and the command's wall time. Target (evaluation
issue): the whole default study's metrics, statistics and tables take seconds.

    .venv/bin/python benchmarks/bench_evaluation.py [--configfile config/test.yaml] [--directory .]
        [--targets tables]

``--targets`` names files instead (e.g. the metrics of the models bench_science.py trained in
benchmarks/study, default-size test sets): then only the jobs of those files are forced
(`--force`), since forcing a rule would pull every job of that rule into the DAG.

Prints a table and writes benchmarks/results/evaluation.json.
"""

import argparse
import json
import time
from pathlib import Path

from snakemake_jobs import job_times, machine, run

ROOT = Path(__file__).resolve().parents[1]
EVALUATION_RULES = (
    "metrics",
    "table2",
    "table3",
    "table4",
    "comparison",
    "sample_size_summary",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/test.yaml")
    parser.add_argument("--directory", type=Path, default=ROOT)
    parser.add_argument("--targets", nargs="+", default=["tables"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/evaluation.json")
    args = parser.parse_args()
    directory = args.directory.resolve()

    since = time.time()
    force = ["--forcerun", *EVALUATION_RULES] if args.targets == ["tables"] else ["--force"]
    wall = run(directory, args.configfile, *args.targets, *force)
    per_rule = job_times(directory, EVALUATION_RULES, since)
    total = sum(e["job_s"] for e in per_rule.values())
    result = {
        "configfile": args.configfile,
        "targets": args.targets,
        "machine": machine(),
        "job_s_total": round(total, 2),
        "wall_s": round(wall, 2),
        "per_rule": per_rule,
    }
    print(f"evaluation ({args.configfile}): {total:.1f} s job time, {wall:.1f} s wall on 1 core")
    for rule, entry in per_rule.items():
        print(
            f"  {rule:22s} {entry['jobs']:3d} jobs {entry['job_s']:6.1f} s "
            f"(max {entry['max_job_s']:.1f} s)"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
