"""The whole default study from empty in one invocation: wall time, job time per rule, science.

Empties the work folder, runs `snakemake all` on a config (default: config/config.yaml) with
the given cores, and reads back from Snakemake's job records (`.snakemake/metadata`):

- wall time of the invocation (the venv install not included), and the load average before
  and after;
- job time per rule (jobs, total and longest job seconds) and the training seconds and epochs
  of every run (run.json);
- phases: the data stage (first job start to the end of the last `prepare`), and the tail
  after the last metrics job (what tables and figures add once every number exists), each
  against its target (data <= 60 s, tables + figures <= 120 s, all <= 30 min);
- the science figures of Table II (rho and Dice of every model) and the claims the default
  must show: RL-U-Net's rho above Enc(U-Net)'s on pma and sfa, and its Dice (localization
  without masks) on every problem;
- `rlnet audit results/tables/table2.tsv` as a user runs it, cold (`--full`, every file hashed)
  and warm (the size + mtime cache), against the 10 s target.

`--seed` replaces the config's seed (written to `<workdir>.yaml`), for a run on the tuning
seed (docs/protocol.md): its figures go to `--out`, never to the record. `--seeds A B C` runs
the study once per data seed (`<workdir>/<seed>`, each from empty unless `--resume`) and adds
`summary`: per problem, model and metric the mean, sd, min, max and a 95% t interval of the
mean over every main run of every seed (the variance between draws and training runs; each
run's own bootstrap CI covers only the cases of its test split), and each claim of
`study_claims.CLAIMS` with the count of runs in which it holds. `--repeats N` adds
`evaluation.repeats: {models: [rl-unet, enc-unet], n: N}` (Table II's mean and sd over N
training runs); with `--resume` the work folder is kept, so a finished study only trains the
extra repeats and remakes what depends on them (times are then those of this invocation).

    .venv/bin/python benchmarks/bench_study.py [--config config/config.yaml] [--seed N]
        [--workdir benchmarks/study] [--cores 2] [--out benchmarks/results/study.json]
        [--repeats N] [--resume]
"""

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import pandas as pd
import yaml
from bench_checks import audit_seconds
from snakemake_jobs import build, job_spans, job_times, machine, save_result
from study_claims import per_run, summary

from rlnet.config import read_yaml

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"all_s": 1800, "data_stage_s": 60, "tables_figures_s": 120}
DATA_RULES = ("synthesize", "manifest", "split", "prepare")
#: Rules whose jobs make the numbers (the tail after the last one is tables and figures).
NUMBER_RULES = ("train", "train_start", "select_start", "predict", "baseline", "metrics")


#: Models whose main runs `--repeats` repeats (the protocol's spread of record).
REPEATED_MODELS = ["rl-unet", "enc-unet"]


def study_config(config: Path, seed: int | None, repeats: int, workdir: Path) -> Path:
    """``config`` itself, or a copy beside ``workdir`` with ``seed`` in place of its seed and
    ``repeats`` main runs of REPEATED_MODELS."""
    if seed is None and repeats <= 1:
        return config
    settings = read_yaml(config)
    if seed is not None:
        settings["seed"] = seed
    if repeats > 1:
        settings["evaluation"]["repeats"] = {"models": REPEATED_MODELS, "n": repeats}
    path = workdir.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def phases(spans: dict[str, list[tuple[float, float]]], start: float, end: float) -> dict:
    """Wall seconds of the data stage and of the tail after the last number-making job."""
    data_end = max(e for rule in DATA_RULES for _, e in spans.get(rule, []))
    numbers_end = max(e for rule in NUMBER_RULES for _, e in spans.get(rule, []))
    return {
        "data_stage_s": round(data_end - start, 1),
        "tables_figures_s": round(end - numbers_end, 1),
    }


def runs(workdir: Path) -> dict[str, dict]:
    """Training seconds, epochs and best epoch of every run, keyed problem/model/run."""
    out = {}
    for path in sorted((workdir / "results/models").glob("*/*/*/run.json")):
        run = json.loads(path.read_text())
        key = str(path.parent.relative_to(workdir / "results/models"))
        out[key] = {
            "train_s": round(run["train_seconds"], 1),
            "epochs": run["epochs"],
            "best_epoch": run["best_epoch"] + 1,
        }
    return out


def science(workdir: Path) -> dict:
    """Table II's rho and Dice per problem and model, and the claims the default must show."""
    table = pd.read_csv(workdir / "results/tables/table2.tsv", sep="\t")
    table = table[table["metric"].isin(["rho", "dice"])]
    value = table.set_index(["problem", "model", "metric"])["value"]
    figures: dict[str, dict] = {}
    for (problem, model, metric), v in value.items():
        figures.setdefault(problem, {}).setdefault(model, {})[metric] = round(float(v), 4)
    claims = {}
    for problem in ("pma", "sfa"):
        rl, enc = value.get((problem, "rl-unet", "rho")), value.get((problem, "enc-unet", "rho"))
        claims[f"{problem}: rl-unet rho > enc-unet rho"] = bool(rl > enc)
    for problem in figures:
        dice = value.get((problem, "rl-unet", "dice"))
        if dice is not None:
            claims[f"{problem}: rl-unet Dice without masks"] = round(float(dice), 4)
    return {"table2": figures, "claims": claims, "per_repeat": per_repeat(workdir)}


def per_repeat(workdir: Path) -> dict:
    """rho and Dice of every main run (nall_r<k>) of REPEATED_MODELS, per problem."""
    out: dict[str, dict] = {}
    for model in REPEATED_MODELS:
        for path in sorted((workdir / "results/metrics").glob(f"*/{model}/nall_r[0-9]*.json")):
            if path.name.endswith(".prov.json"):
                continue
            metrics = json.loads(path.read_text())["metrics"]
            entry = {k: round(metrics[k]["value"], 4) for k in ("rho", "dice") if k in metrics}
            out.setdefault(path.parts[-3], {}).setdefault(model, {})[path.stem] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    parser.add_argument("--seed", type=int, help="replace the config's seed (tuning runs)")
    parser.add_argument("--seeds", type=int, nargs="+", help="one study per data seed")
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks/study")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/study.json")
    parser.add_argument("--repeats", type=int, default=1, help="main runs of rl-unet, enc-unet")
    parser.add_argument("--resume", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    if args.seeds:
        studies = {}
        for seed in args.seeds:
            studies[str(seed)] = one_study(args, seed, args.workdir / str(seed))
        result = {"seeds": args.seeds, "studies": studies, "machine": machine()}
        baselines = read_yaml(args.config)["evaluation"].get("baselines", [])
        by_seed = {seed: per_run(args.workdir / seed) for seed in studies}
        result["summary"] = summary(by_seed, baselines)
        save_result(result, args.out)
        return
    save_result(one_study(args, args.seed, args.workdir), args.out)


def one_study(args: argparse.Namespace, seed: int | None, workdir: Path) -> dict:
    """Build the study of ``seed`` (None: the config's) in ``workdir``; its figures."""
    if not args.resume:
        shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    config = study_config(args.config, seed, args.repeats, workdir)
    result = {"config": str(args.config), "seed": read_yaml(config)["seed"], "cores": args.cores}
    result["repeats"], result["resumed"] = args.repeats, args.resume
    result["machine"] = machine()
    start = time.time()
    wall = build(config, workdir, args.cores, ["all"])
    end = time.time()
    spans = job_spans(workdir)
    result["wall_s"] = round(wall, 1)
    result["phases"] = phases(spans, start, end)
    result["targets"] = TARGETS
    result["met"] = {
        "all_s": wall <= TARGETS["all_s"],
        **{k: result["phases"][k] <= TARGETS[k] for k in ("data_stage_s", "tables_figures_s")},
    }
    result["job_s_per_rule"] = job_times(workdir, tuple(spans), since=start)
    result["runs"] = runs(workdir)
    result["science"] = science(workdir)
    try:
        result["audit_table2"] = audit_seconds(workdir, ["results/tables/table2.tsv"])
    except SystemExit as failed:  # the figures above stay on record; the failure with them
        result["audit_table2"] = {"failed": str(failed)[-2000:]}
    return result


if __name__ == "__main__":
    main()
