"""The automatic RL output bias against the old hand-set values, on validation data only.

The hand values (pma -2, sfa +2, cac -5, liver -3) were once chosen on a test split; the
default now computes the bias from the training split (``training.output_bias: auto``,
docs/protocol.md). This script trains rl-unet on each problem twice, once with each bias, on
the TUNING seed 2020 and reports VALIDATION figures only (nothing here reads the test split):

- val r: Pearson r of the predicted biomarker at the best epoch (the trainer's early stopping
  on validation loss picks it; for cac the calcium volume the RL head learns),
- val Dice: mean Dice of the best model's localization (map > 0.5 inside the candidates, in
  network-input space, as ``rlnet.evaluate.localization_metrics``) against the prepared masks,
  over the validation cases whose reference mask is non-empty; ``val_dice_area`` the same with
  the default area rule (``evaluation.localization``),
- epochs to leave the starting plateau: the first epoch (1-based) with val r > 0.5,
- seconds of training.

Data: the config's phantoms at ``--data-fraction`` of their case counts (seed 2020), made and
prepared by the workflow itself (``snakemake`` on the prepare outputs) in ``--workdir``; each
problem's training block of the config (``max_epochs`` replaced by ``--max-epochs`` if given).
A variant ``auto+<d>`` starts at the automatic bias plus d (the starting odds times e^d).
About 20 minutes on 2 CPU cores at ``--max-epochs 15 --data-fraction 0.5``:

    .venv/bin/python benchmarks/bench_bias.py [--problems pma sfa cac liver] [--max-epochs 15]
        [--data-fraction 0.5] [--threads 2] [--workdir benchmarks/bias]
        [--variants auto hand auto+2]
        [--cac-candidates-hu -500] [--out benchmarks/results/bias.json]

`--cac-candidates-hu -500` measures cac with the paper's candidates (from -500 HU) instead of
the default's 130 HU.

Prints one line per run and writes benchmarks/results/bias.json.
"""

import argparse
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from snakemake_jobs import build, machine

from rlnet import atomic, metrics, tsv
from rlnet import config as rlconfig
from rlnet.localization import binarise
from rlnet.predict import infer, load_model
from rlnet.prepare import Prepared
from rlnet.settings import identity
from rlnet.training.data import CaseDataset
from rlnet.training.loop import Trainer
from rlnet.training.run_spec import RunSpec

ROOT = Path(__file__).resolve().parents[1]
MODEL = "rl-unet"
#: The tuning draw (docs/protocol.md).
TUNING_SEED = 2020
#: The output biases the default config set by hand before ``auto``.
HAND_BIAS = {"pma": -2.0, "sfa": 2.0, "cac": -5.0, "liver": -3.0}
#: Validation r above which a run has left its starting plateau.
PLATEAU_R = 0.5
#: Phantom keys that set a draw's size, and the least a scaled draw keeps (cac's rarest risk
#: group needs a few cases in each split).
MIN_SIZE = {"n_cases": 100, "n_subjects": 12}


def bench_config(config: dict, fraction: float) -> dict:
    """``config`` on the tuning seed with every phantom's case count scaled by ``fraction``
    (at least ``MIN_SIZE``)."""
    out = {**config, "seed": TUNING_SEED}
    out["phantoms"] = {
        name: (
            {
                **block,
                **{
                    key: max(round(block[key] * fraction), least)
                    for key, least in MIN_SIZE.items()
                    if key in block
                },
            }
            if isinstance(block, dict)
            else block
        )
        for name, block in config.get("phantoms", {}).items()
    }
    return out


def val_dice(model_file: Path, prepared_dir: Path, problem: str, device: torch.device) -> dict:
    """Mean Dice of the saved model's localization on the validation cases with a non-empty
    reference mask (network-input space), binarised by each rule of ``rlnet.localization``
    (``val_dice``: the paper's threshold; ``val_dice_area``: the default area rule), and how
    many such cases there are."""
    model, _ = load_model(model_file, problem, MODEL, device)
    prepared = Prepared.load(prepared_dir)
    val = prepared.indices("val")
    dataset = CaseDataset(prepared, val, np.zeros(len(val)), None, seed=0)
    _, maps = infer(model, dataset, device, batch_size=8)
    region = prepared.region()
    kept = [
        (k, reference)
        for k, index in enumerate(val)
        if (reference := np.asarray(prepared.masks[index][region])).any()
    ]
    figures: dict = {"n_val_dice": len(kept)}
    for key, rule in (("val_dice", "threshold"), ("val_dice_area", "area")):
        masks = binarise(maps[[k for k, _ in kept]], rule) if kept else []
        scores = [metrics.dice(m, ref) for m, (_, ref) in zip(masks, kept, strict=True)]
        figures[key] = float(np.mean(scores)) if scores else None
    return figures


def variant_bias(variant: str, problem: str) -> tuple[float | str, float]:
    """(output_bias, shift) of a variant: ``auto`` (no shift), ``hand`` (``HAND_BIAS``) or
    ``auto+<d>`` / ``auto-<d>``: the automatic bias shifted by d in logit units (the starting
    odds times e^d; the shift of one start of ``rlnet.training.starts``)."""
    if variant == "hand":
        return HAND_BIAS[problem], 0.0
    return "auto", float(variant.removeprefix("auto") or 0)


def train_one(
    config: dict,
    problem: str,
    variant: str,
    workdir: Path,
    max_epochs: int | None,
    device: str,
) -> dict:
    """Train rl-unet on ``problem`` with the output bias of ``variant`` (``variant_bias``); its
    validation figures. ``max_epochs`` None keeps the config's."""
    settings = identity(rlconfig.training_settings(config, problem))
    if max_epochs is not None:
        settings["max_epochs"] = max_epochs
    bias, shift = variant_bias(variant, problem)
    prepared_dir = workdir / "results" / "prepared" / problem
    settings["output_bias"], settings["output_bias_shift"] = bias, shift
    name = variant if variant != "hand" else f"hand{bias:+g}"
    run_dir = workdir / "runs" / problem / name
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run: no resume, honest seconds
    trainer = Trainer(RunSpec(problem, MODEL, None, 0, TUNING_SEED, settings), prepared_dir, device)
    tic = time.perf_counter()
    run = trainer.fit(run_dir / "model", run_dir / "checkpoint")
    seconds = time.perf_counter() - tic
    history = tsv.read_table(run_dir / "model" / "log.tsv")
    r_by_epoch = [None if math.isnan(r) else round(r, 4) for r in history["val_pearson"]]
    left = next((e + 1 for e, r in enumerate(r_by_epoch) if r is not None and r > PLATEAU_R), None)
    best_r = r_by_epoch[run["best_epoch"]]
    figures = {
        "output_bias": round(run["output_bias"], 4),
        "val_r_best_epoch": best_r,
        **val_dice(run_dir / "model" / "model.pt", prepared_dir, problem, trainer.device),
        "epochs_to_val_r_above_0.5": left,
        "best_epoch": run["best_epoch"] + 1,
        "epochs": run["epochs"],
        "seconds": round(seconds, 1),
        "n_train": run["n_train"],
        "n_val": run["n_val"],
        "val_r_by_epoch": r_by_epoch,
    }
    dice = " / ".join(
        "-" if figures[k] is None else f"{figures[k]:.3f}" for k in ("val_dice", "val_dice_area")
    )
    print(
        f"{problem:5s} {name:8s} bias {figures['output_bias']:+.3f}  val r {best_r}  "
        f"Dice (threshold / area) {dice}  plateau left at epoch {left}  "
        f"({seconds:.0f} s)",
        flush=True,
    )
    return figures


def variant_name(text: str) -> str:
    """An argparse type: ``text`` if it names a variant (``variant_bias``)."""
    if text in ("auto", "hand"):
        return text
    if text.startswith(("auto+", "auto-")):
        try:
            float(text.removeprefix("auto"))
            return text
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"not a variant: {text!r} (auto, hand, auto+<d>, auto-<d>)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    parser.add_argument("--problems", nargs="+", default=list(HAND_BIAS), choices=list(HAND_BIAS))
    parser.add_argument(
        "--max-epochs", type=int, help="epoch budget of every run (default: the config's)"
    )
    parser.add_argument("--data-fraction", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--cores", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["auto", "hand"],
        type=variant_name,
        help="auto, hand, or auto+<d> / auto-<d>: the automatic bias shifted by d (logit units)",
    )
    parser.add_argument(
        "--cac-candidates-hu",
        type=float,
        help="lower HU of cac's candidates instead of the config's (the paper's: -500)",
    )
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks/bias")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/bias.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tic = time.perf_counter()
    config = bench_config(rlconfig.load(args.config), args.data_fraction)
    if args.cac_candidates_hu is not None:
        candidates = config["problems"]["cac"]["candidates"]
        candidates["hu"] = [args.cac_candidates_hu, candidates["hu"][1]]
    rlconfig.validate(config)
    args.workdir.mkdir(parents=True, exist_ok=True)
    config_file = args.workdir / "bench_bias_config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    targets = [f"results/prepared/{p}/meta.json" for p in args.problems]
    data_seconds = build(config_file, args.workdir, args.cores, targets)
    runs = {
        problem: {
            variant: train_one(config, problem, variant, args.workdir, args.max_epochs, args.device)
            for variant in args.variants
        }
        for problem in args.problems
    }
    result = {
        "benchmark": "rl-unet, automatic vs hand-set output bias, validation split only",
        "seed": TUNING_SEED,
        "split": "val",
        "config": str(args.config),
        "data_fraction": args.data_fraction,
        "cac_candidates_hu": config["problems"].get("cac", {}).get("candidates", {}).get("hu"),
        "phantoms": {k: v for k, v in config["phantoms"].items() if isinstance(v, dict)},
        "max_epochs": args.max_epochs,
        "threads": args.threads,
        "device": args.device,
        "machine": machine(),
        "data_seconds": round(data_seconds, 1),
        "total_seconds": round(time.perf_counter() - tic, 1),
        "runs": runs,
    }
    atomic.write_json(args.out, result)
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
