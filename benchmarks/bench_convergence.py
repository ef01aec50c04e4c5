"""Where each model converges, on the tuning seed's validation split only.

Every (problem, model, start, training repeat) is trained as the workflow trains it (same
settings, seeds and thread count), but with a long epoch budget and a patience long enough to
see past the default's early stop (``--max-epochs 60 --patience 15``). Each epoch records the
training and validation loss, validation Pearson r of the biomarker and, for models with maps,
the validation Dice of the current weights (area rule and the paper's map > 0.5; mean over the
validation cases with a non-empty reference mask, network-input space). Early stopping with
any patience <= ``--patience`` and any budget <= ``--max-epochs`` then follows exactly from the
recorded curves (``--report``), so one run answers "which budget and patience converge" for
every setting at once. Nothing here reads the test split.

Variants change the data or the settings of a run:

- ``default``: the config's data and settings,
- ``candidates-hu=LO,HI``: a problem with mask candidates (liver) keeps only the candidate
  pixels whose HU lies in [LO, HI] (a more specific candidate mask),
- ``subjects=N`` / ``cases=N``: the phantom drawn with N subjects (abdomen) or cases,
- ``set:KEY=JSON``: one training setting replaced (``set:lr.enc=1e-3``,
  ``set:target_transform="none"``); several joined by ``;``.

Usage (about 20 s an epoch for liver rl-unet on one core):

    .venv/bin/python benchmarks/bench_convergence.py --problems liver --reps 0 1 2
        [--models rl-unet seg-unet] [--variants default candidates-hu=-100,40]
        [--max-epochs 60] [--patience 15] [--threads 1] [--workdir benchmarks/convergence]
        [--out benchmarks/results/convergence.json]
    .venv/bin/python benchmarks/bench_convergence.py --report [--out ...]

Runs already in ``--out`` are skipped, so an interrupted benchmark resumes where it stopped.
"""

import argparse
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from snakemake_jobs import build, machine

from rlnet import config as rlconfig
from rlnet import metrics
from rlnet.localization import binarise
from rlnet.models import model_family
from rlnet.predict import infer
from rlnet.settings import identity
from rlnet.training.data import CaseDataset
from rlnet.training.loop import Trainer
from rlnet.training.run_spec import RunSpec
from rlnet.training.starts import shifts, started

ROOT = Path(__file__).resolve().parents[1]
#: The tuning draw (docs/protocol.md).
TUNING_SEED = 2020
#: Patiences the report simulates.
REPORT_PATIENCE = (5, 10, 15)


class RecordingTrainer(Trainer):
    """A Trainer that also records, every epoch, the validation Dice of its current weights.

    The torch RNG state is restored after the extra inference, so the run's trajectory is
    exactly the workflow's (the extra DataLoader would otherwise draw a base seed from it).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        region = self.prepared.region()
        self.dice_cases = [
            (k, np.asarray(self.prepared.masks[index][region]))
            for k, index in enumerate(self.val_idx)
            if self.prepared.masks[index][region].any()
        ]
        self.dice_set = CaseDataset(
            self.prepared, self.val_idx, np.zeros(len(self.val_idx)), None, seed=0
        )
        self.dice_history: list[dict] = []

    def _validate(self) -> tuple[float, float]:
        loss, r = super()._validate()
        self.dice_history.append(self._val_dice())
        return loss, r

    def _val_dice(self) -> dict:
        if self.model.family == "enc" or not self.dice_cases:
            return {"val_dice_area": None, "val_dice_threshold": None}
        rng = torch.get_rng_state()
        _, maps = infer(self.model, self.dice_set, self.device, self.settings["batch_size"])
        torch.set_rng_state(rng)
        self.model.train()
        kept = maps[[k for k, _ in self.dice_cases]]
        figures = {}
        for rule in ("area", "threshold"):
            masks = binarise(kept, rule)
            scores = [
                metrics.dice(m, ref) for m, (_, ref) in zip(masks, self.dice_cases, strict=True)
            ]
            figures[f"val_dice_{rule}"] = round(float(np.mean(scores)), 4)
        return figures


def parse_variant(text: str) -> dict:
    """A variant's parts: ``candidates_hu`` (lo, hi), ``phantom_size`` {key: n}, ``settings``
    {dotted key: value}. Raises ValueError on an unknown form."""
    parts: dict = {"candidates_hu": None, "phantom_size": {}, "settings": {}}
    if text == "default":
        return parts
    for piece in text.split(";"):
        if piece.startswith("candidates-hu="):
            lo, hi = (float(v) for v in piece.removeprefix("candidates-hu=").split(","))
            parts["candidates_hu"] = (lo, hi)
        elif piece.startswith(("subjects=", "cases=")):
            key, value = piece.split("=")
            parts["phantom_size"]["n_subjects" if key == "subjects" else "n_cases"] = int(value)
        elif piece.startswith("set:"):
            key, value = piece.removeprefix("set:").split("=", 1)
            parts["settings"][key] = json.loads(value)
        else:
            raise ValueError(f"unknown variant part {piece!r}")
    return parts


def variant_type(text: str) -> str:
    """An argparse type: ``text`` if ``parse_variant`` accepts it."""
    try:
        parse_variant(text)
    except (ValueError, json.JSONDecodeError) as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {err}") from None
    return text


def study_config(config: dict, problem: str, phantom_size: dict) -> dict:
    """``config`` on the tuning seed, ``problem``'s phantom resized by ``phantom_size``."""
    out = json.loads(json.dumps(config))
    out["seed"] = TUNING_SEED
    phantom = out["problems"][problem]["source"].get("synthetic")
    if phantom_size:
        if phantom is None:
            raise SystemExit(f"{problem}: a size variant needs a synthetic source")
        out["phantoms"][phantom].update(phantom_size)
    return out


def data_dir(workdir: Path, phantom_size: dict) -> Path:
    """The study folder of one data draw (the default's, or a resized phantom's)."""
    if not phantom_size:
        return workdir / "default"
    return workdir / "_".join(f"{k}{v}" for k, v in sorted(phantom_size.items()))


def prepared_folder(config: dict, problem: str, parts: dict, workdir: Path, cores: int) -> Path:
    """The prepared arrays of ``problem`` for a variant: built by the workflow (prepare only),
    then, for ``candidates_hu``, a copy whose candidates keep only pixels in that HU range."""
    study = data_dir(workdir, parts["phantom_size"])
    study.mkdir(parents=True, exist_ok=True)
    config_file = study / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    build(config_file, study, cores, [f"results/prepared/{problem}/meta.json"])
    source = study / "results" / "prepared" / problem
    if parts["candidates_hu"] is None:
        return source
    lo, hi = parts["candidates_hu"]
    target = study / "variants" / f"{problem}_hu{lo:g}_{hi:g}"
    if not (target / "meta.json").exists():
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
        images = np.load(target / "images.npy", mmap_mode="r")
        candidates = np.load(target / "candidates.npy", mmap_mode="r+")
        for k in range(len(candidates)):
            candidates[k] &= ((images[k] >= lo) & (images[k] <= hi)).astype(np.uint8)
        candidates.flush()
    return target


def set_dotted(settings: dict, key: str, value) -> None:
    """``settings[a][b] = value`` for key ``a.b``; the block ``a`` must exist (the schema
    checks the result)."""
    *path, last = key.split(".")
    block = settings
    for name in path:
        if name not in block:
            raise SystemExit(f"unknown training setting {key!r}")
        block = block[name]
    block[last] = value


def train_one(
    config: dict,
    problem: str,
    model: str,
    shift: float,
    rep: int,
    parts: dict,
    prepared_dir: Path,
    run_dir: Path,
    args: argparse.Namespace,
) -> dict:
    """One run with the long budget; its per-epoch record."""
    settings = identity(rlconfig.training_settings(config, problem, model=model))
    for key, value in parts["settings"].items():
        set_dotted(settings, key, value)
    settings["max_epochs"], settings["patience"] = args.max_epochs, args.patience
    spec = started(RunSpec(problem, model, None, rep, TUNING_SEED, settings), shift)
    shutil.rmtree(run_dir, ignore_errors=True)  # fresh: honest seconds
    trainer = RecordingTrainer(spec, prepared_dir, args.device)
    tic = time.perf_counter()
    run = trainer.fit(run_dir / "model", run_dir / "checkpoint")
    history = []
    for row, dice in zip(run_history(run_dir), trainer.dice_history, strict=True):
        history.append({**row, **dice})
    shutil.rmtree(run_dir / "checkpoint", ignore_errors=True)
    return {
        "output_bias": run["output_bias"],
        "n_train": run["n_train"],
        "n_val": run["n_val"],
        "n_val_dice": len(trainer.dice_cases),
        "seconds": round(time.perf_counter() - tic, 1),
        "history": history,
    }


def run_history(run_dir: Path) -> list[dict]:
    """log.tsv of a finished run as rows (val r NaN as None)."""
    import pandas as pd

    table = pd.read_csv(run_dir / "model" / "log.tsv", sep="\t")
    rows = []
    for row in table.to_dict("records"):
        rows.append(
            {
                "epoch": int(row["epoch"]),
                "train_loss": round(float(row["train_loss"]), 6),
                "val_loss": round(float(row["val_loss"]), 6),
                "val_r": None if math.isnan(row["val_pearson"]) else round(row["val_pearson"], 4),
                "seconds": round(float(row["seconds"]), 2),
            }
        )
    return rows


def early_stop(history: list[dict], patience: int, budget: int) -> dict:
    """What early stopping with ``patience`` and ``budget`` epochs would have done on a recorded
    run: the epoch it stops after, the best epoch (lowest validation loss, first on ties) and
    whether the budget (not patience) ended it. Exact while ``patience`` <= the recording's
    and ``budget`` <= its length, or the recording itself stopped earlier."""
    best, best_epoch, bad = math.inf, -1, 0
    for row in history[:budget]:
        if row["val_loss"] < best:
            best, best_epoch, bad = row["val_loss"], row["epoch"], 0
        else:
            bad += 1
        if bad >= patience:
            return {"stop": row["epoch"], "best": best_epoch, "by": "patience"}
    last = history[min(budget, len(history)) - 1]["epoch"]
    return {"stop": last, "best": best_epoch, "by": "budget"}


def report(result: dict) -> dict:
    """Per run and patience: the least budget at which patience (not the budget) stops it, and
    the validation figures at the best epoch then and under the config's own budget."""
    rows = {}
    for key, run in result["runs"].items():
        history = run["history"]
        by_epoch = {row["epoch"]: row for row in history}
        figures = {}
        for patience in REPORT_PATIENCE:
            if patience > result["patience"]:
                continue
            free = early_stop(history, patience, len(history))
            needed = free["stop"] + 1 if free["by"] == "patience" else None
            best = by_epoch[free["best"]]
            figures[f"p{patience}"] = {
                "budget_needed": needed,
                "best_epoch": free["best"] + 1,
                "val_r": best["val_r"],
                "val_dice_area": best.get("val_dice_area"),
            }
        default = early_stop(history, run["config_patience"], run["config_max_epochs"])
        at_default = by_epoch[default["best"]]
        figures["config"] = {
            "patience": run["config_patience"],
            "max_epochs": run["config_max_epochs"],
            "stopped_by": default["by"],
            "best_epoch": default["best"] + 1,
            "val_r": at_default["val_r"],
            "val_dice_area": at_default.get("val_dice_area"),
        }
        rows[key] = figures
    return rows


def print_report(rows: dict) -> None:
    for key, figures in rows.items():
        config = figures["config"]
        parts = [
            f"{key:48s} config ({config['max_epochs']} ep, p{config['patience']}): "
            f"{config['stopped_by']:8s} best {config['best_epoch']:2d} r {config['val_r']} "
            f"Dice {config['val_dice_area']}"
        ]
        for name, f in figures.items():
            if name != "config":
                parts.append(
                    f"{name}: needs {f['budget_needed']} best {f['best_epoch']} r {f['val_r']} "
                    f"Dice {f['val_dice_area']}"
                )
        print(" | ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    parser.add_argument("--problems", nargs="+", default=None)
    parser.add_argument("--models", nargs="+", help="default: each problem's configured models")
    parser.add_argument("--reps", nargs="+", type=int, default=[0], help="training repeats")
    parser.add_argument("--starts", nargs="+", type=float, help="RL start shifts (config's)")
    parser.add_argument("--variants", nargs="+", type=variant_type, default=["default"])
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--cores", type=int, default=1, help="Snakemake cores for the data")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks/convergence")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/convergence.json")
    parser.add_argument("--report", action="store_true", help="only summarise --out")
    args = parser.parse_args()
    result = json.loads(args.out.read_text()) if args.out.exists() else None
    if args.report:
        if result is None:
            raise SystemExit(f"{args.out}: no results yet")
        print_report(report(result))
        return
    torch.set_num_threads(args.threads)
    base = rlconfig.load(args.config)
    if result is None:
        result = {
            "benchmark": "convergence: long budgets, per-epoch validation figures",
            "seed": TUNING_SEED,
            "split": "val",
            "config": str(args.config.relative_to(ROOT)),
            "max_epochs": args.max_epochs,
            "patience": args.patience,
            "threads": args.threads,
            "device": args.device,
            "machine": machine(),
            "runs": {},
        }
    elif (result["max_epochs"], result["patience"]) != (args.max_epochs, args.patience):
        raise SystemExit(f"{args.out} was recorded with other --max-epochs / --patience")
    for problem in args.problems or list(base["problems"]):
        for variant in args.variants:
            parts = parse_variant(variant)
            config = study_config(base, problem, parts["phantom_size"])
            rlconfig.validate(config)
            prepared = prepared_folder(config, problem, parts, args.workdir, args.cores)
            for model in args.models or config["problems"][problem]["models"]:
                if model not in config["problems"][problem]["models"]:
                    continue
                settings = rlconfig.training_settings(config, problem, model=model)
                starts = args.starts if args.starts is not None else shifts(settings, model)
                if model_family(model) != "rl":
                    starts = [0.0]
                for rep in args.reps:
                    for shift in starts:
                        key = f"{problem}/{model}/{variant}/r{rep}/start{shift:+g}"
                        if key in result["runs"]:
                            continue
                        run_dir = args.workdir / "runs" / key.replace("/", "__")
                        record = train_one(
                            config, problem, model, shift, rep, parts, prepared, run_dir, args
                        )
                        record["config_max_epochs"] = settings["max_epochs"]
                        record["config_patience"] = settings["patience"]
                        result["runs"][key] = record
                        result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
                        args.out.parent.mkdir(parents=True, exist_ok=True)
                        tmp = args.out.with_suffix(".tmp")
                        tmp.write_text(json.dumps(result, indent=1) + "\n")
                        tmp.replace(args.out)
                        best = min(record["history"], key=lambda row: row["val_loss"])
                        print(
                            f"{key}: {len(record['history'])} epochs, best {best['epoch'] + 1} "
                            f"val r {best['val_r']} Dice {best.get('val_dice_area')} "
                            f"({record['seconds']:.0f} s)",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
