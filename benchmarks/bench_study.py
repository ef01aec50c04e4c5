"""The whole default study, timed, with the paper's central claim checked on its tables.

Runs `snakemake all` on a config (default: config/config.yaml) in a work folder, then reads
back: total wall time, training seconds per model (run.json), data-stage share, and the science
check of the models issue: rl-unet reaches rho >= 0.95 and Dice >= 0.80 on pma and sfa and beats
enc-unet's rho on the same test set. Prints the figures and writes benchmarks/results/study.json.

    .venv/bin/python benchmarks/bench_study.py [--config config/config.yaml] [--workdir DIR]
"""

import argparse
import json
import os
from pathlib import Path

import pandas as pd
from snakemake_jobs import build

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "study.json"


def training_seconds(workdir: Path) -> dict[str, float]:
    """Training seconds of every model, keyed problem/model/run."""
    out = {}
    for path in sorted((workdir / "results/models").glob("*/*/*/run.json")):
        run = json.loads(path.read_text())
        out[str(path.parent.relative_to(workdir / "results/models"))] = run["train_seconds"]
    return out


def science_check(workdir: Path) -> dict:
    """rl-unet vs enc-unet on pma and sfa from Table II."""
    table = pd.read_csv(workdir / "results/tables/table2.tsv", sep="\t")
    value = table.set_index(["problem", "model", "metric"])["value"]
    checks = {}
    for problem in ("pma", "sfa"):
        rho, dice = value[(problem, "rl-unet", "rho")], value[(problem, "rl-unet", "dice")]
        enc = value[(problem, "enc-unet", "rho")]
        checks[problem] = {
            "rl_unet_rho": rho,
            "rl_unet_dice": dice,
            "enc_unet_rho": enc,
            "pass": bool(rho >= 0.95 and dice >= 0.80 and rho > enc),
        }
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks/study")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    args = parser.parse_args()
    wall = build(args.config, args.workdir, args.cores, ["all"])
    seconds = training_seconds(args.workdir)
    result = {
        "config": str(args.config),
        "cores": args.cores,
        "wall_seconds_this_invocation": round(wall, 1),
        "training_seconds_total": round(sum(seconds.values()), 1),
        "training_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "science_check": science_check(args.workdir),
        "loadavg": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
