"""Time the figures of a study whose predictions are on disk: every figure, and one figure.

1. `snakemake figures --forcerun <every figure rule> --cores 1`: the total *job time* (the sum
   over figure jobs of end - start, as Snakemake records them in .snakemake/metadata) and the
   wall-clock time of the whole command. Target: all figures < 60 s of job time.
2. One figure (the first Bland-Altman plot) asked for by its file, forced: the job time and the
   command's wall-clock time (with Snakemake's start-up and DAG). Target: a few seconds.

Run it where the study's results are (default: this checkout, config/test.yaml, the tiny study
the tests run; pass --configfile config/config.yaml once the default study has been run):

    .venv/bin/python benchmarks/bench_figures.py [--configfile config/test.yaml] [--directory .]

Prints a table and writes benchmarks/results/figures.json.
"""

import argparse
import base64
import json
import time
from pathlib import Path

from snakemake_jobs import job_times, machine, run

ROOT = Path(__file__).resolve().parents[1]
FIGURE_RULES = (
    "figure_bland_altman",
    "figure_correlation",
    "figure_confusion",
    "figure_overlays",
    "figure_comparison",
    "figure_abs_error",
    "figure_sample_size",
    "figure_distribution",
    "figure_risk_groups",
)
TARGET_ALL_S = 60.0
TARGET_ONE_S = 5.0


def job_record(directory: Path, output: Path) -> dict:
    """Snakemake's metadata record of the job that wrote ``output`` (relative path)."""
    key = base64.b64encode(str(output).encode()).decode()
    return json.loads((directory / ".snakemake" / "metadata" / key).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/test.yaml")
    parser.add_argument("--directory", type=Path, default=ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/figures.json")
    args = parser.parse_args()
    directory = args.directory.resolve()

    since = time.time()
    wall_all = run(directory, args.configfile, "figures", "--forcerun", *FIGURE_RULES)
    figures = sorted(
        p.relative_to(directory) for p in (directory / "results/figures").rglob("*.pdf")
    )
    per_rule = job_times(directory, FIGURE_RULES, since)
    total = sum(e["job_s"] for e in per_rule.values())

    one = next(p for p in figures if p.parts[2] == "bland_altman")
    wall_one = run(directory, args.configfile, str(one), "--forcerun", "figure_bland_altman")
    record = job_record(directory, one)
    one_job = record["endtime"] - record["starttime"]

    result = {
        "configfile": args.configfile,
        "machine": machine(),
        "figures": len(figures),
        "all_figures": {
            "job_s_total": round(total, 2),
            "wall_s": round(wall_all, 2),
            "target_job_s": TARGET_ALL_S,
            "met": total < TARGET_ALL_S,
        },
        "per_rule": per_rule,
        "one_figure": {
            "target": str(one),
            "job_s": round(one_job, 2),
            "wall_s": round(wall_one, 2),
            "target_job_s": TARGET_ONE_S,
            "met": one_job < TARGET_ONE_S,
        },
    }
    print(
        f"{len(figures)} figures ({args.configfile}): {total:.1f} s total job time "
        f"(target < {TARGET_ALL_S:.0f} s), {wall_all:.1f} s wall on 1 core"
    )
    for rule, entry in result["per_rule"].items():
        print(
            f"  {rule:26s} {entry['jobs']:3d} jobs {entry['job_s']:6.1f} s "
            f"(max {entry['max_job_s']:.1f} s)"
        )
    print(f"one figure ({one}): {one_job:.1f} s job, {wall_one:.1f} s wall with Snakemake start-up")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
