"""The models issue's science check on the embedded default, through the workflow itself.

Builds, with `snakemake`, the metrics of rl-unet and enc-unet trained on all of pma and sfa
(results/metrics/{problem}/{model}/nall_r0.json) in a work folder, then checks the paper's
central claim: rl-unet reaches Pearson rho >= 0.95 and Dice >= 0.80 (binarised localization)
and beats enc-unet's rho on the same test set. Also records each model's training seconds and
epochs. A subset of the whole study (bench_study.py), small enough to run on the CPU default.

    .venv/bin/python benchmarks/bench_science.py [--config config/config.yaml] [--workdir DIR]

Prints the figures and writes benchmarks/results/science.json.
"""

import argparse
import json
import os
from pathlib import Path

from snakemake_jobs import build, machine

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ("pma", "sfa")
MODELS = ("rl-unet", "enc-unet")
RHO_MIN, DICE_MIN = 0.95, 0.80


def model_figures(workdir: Path, problem: str, model: str) -> dict:
    """rho, Dice (None without maps), test n, training seconds and epochs of one model."""
    metrics = json.loads((workdir / f"results/metrics/{problem}/{model}/nall_r0.json").read_text())
    run = json.loads((workdir / f"results/models/{problem}/{model}/nall_r0/run.json").read_text())
    dice = metrics["metrics"].get("dice", {}).get("value")
    return {
        "rho": round(metrics["metrics"]["rho"]["value"], 4),
        "dice": None if dice is None else round(dice, 4),
        "n_test": metrics["n_test"],
        "train_seconds": round(run["train_seconds"], 1),
        "epochs": run["epochs"],
        "best_epoch": run["best_epoch"],
    }


def check(figures: dict) -> dict:
    """Per problem: pass when rl-unet rho >= 0.95, Dice >= 0.80 and rho > enc-unet's."""
    out = {}
    for problem in PROBLEMS:
        rl, enc = figures[problem]["rl-unet"], figures[problem]["enc-unet"]
        out[problem] = {
            "rho_ok": rl["rho"] >= RHO_MIN,
            "dice_ok": rl["dice"] is not None and rl["dice"] >= DICE_MIN,
            "beats_enc_unet": rl["rho"] > enc["rho"],
        }
        out[problem]["pass"] = all(out[problem].values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks/study")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/science.json")
    args = parser.parse_args()
    targets = [f"results/metrics/{p}/{m}/nall_r0.json" for p in PROBLEMS for m in MODELS]
    wall = build(args.config, args.workdir, args.cores, targets)
    figures = {p: {m: model_figures(args.workdir, p, m) for m in MODELS} for p in PROBLEMS}
    result = {
        "config": str(args.config),
        "machine": machine(),
        "cores": args.cores,
        "wall_seconds_this_invocation": round(wall, 1),
        "models": figures,
        "check": check(figures),
    }
    for problem in PROBLEMS:
        rl, enc = figures[problem]["rl-unet"], figures[problem]["enc-unet"]
        verdict = "pass" if result["check"][problem]["pass"] else "FAIL"
        print(
            f"{problem}: rl-unet rho {rl['rho']:.4f} Dice {rl['dice']} ({rl['train_seconds']:.0f}s)"
        )
        print(f"  enc-unet rho {enc['rho']:.4f} ({enc['train_seconds']:.0f} s) -> {verdict}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
