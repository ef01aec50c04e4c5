"""How to binarise RL localization maps, chosen on validation of the tuning seed.

For every trained RL model (rl-*; seg-unet's maps are already binary, so the rules agree on it)
in a study built on the
TUNING seed (docs/protocol.md; e.g. `bench_study.py --seed 2020 --workdir benchmarks/tune2020`),
the model's repeat-0 run is applied to the VALIDATION split (nothing here reads the test split)
and each rule of `rlnet.localization` binarises its maps:

- `threshold`: map > 0.5 (the paper's),
- `area`: the round(sum of the map) most probable voxels (the mask's measure equals the
  predicted value).

Reported per model: mean Dice over the validation cases whose reference mask is non-empty
(network-input space, as the metrics stage), under each rule; then per rule the mean over
models and how many models it wins. Refuses a study on the record seed of config/config.yaml.

    .venv/bin/python benchmarks/bench_localization.py [--workdir benchmarks/tune2020]
        [--out benchmarks/results/localization.json]
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from snakemake_jobs import machine, save_result

from rlnet import metrics
from rlnet.config import read_yaml
from rlnet.localization import RULES, binarise
from rlnet.predict import infer, load_model
from rlnet.prepare import Prepared
from rlnet.training.data import CaseDataset

ROOT = Path(__file__).resolve().parents[1]
RECORD_SEED = read_yaml(ROOT / "config/config.yaml")["seed"]


def val_dice(run_dir: Path, prepared_dir: Path) -> dict:
    """Mean validation Dice of one run's maps under each rule, over cases with a reference."""
    run = json.loads((run_dir / "run.json").read_text())
    if run["seed"] == RECORD_SEED:
        raise SystemExit(f"{run_dir}: a run on the record seed {RECORD_SEED}; tune on another")
    device = torch.device("cpu")
    model, _ = load_model(run_dir / "model.pt", run["problem"], run["model"], device)
    prepared = Prepared.load(prepared_dir)
    val = prepared.indices("val")
    dataset = CaseDataset(prepared, val, np.zeros(len(val)), None, seed=0)
    _, maps = infer(model, dataset, device, batch_size=8)
    region = prepared.region()
    references = [np.asarray(prepared.masks[i][region]) for i in val]
    kept = [k for k, reference in enumerate(references) if reference.any()]
    dice = {}
    for rule in RULES:
        masks = binarise(maps[kept], rule)
        dice[rule] = round(
            float(
                np.mean([metrics.dice(m, references[k]) for m, k in zip(masks, kept, strict=True)])
            ),
            4,
        )
    return {"problem": run["problem"], "model": run["model"], "seed": run["seed"]} | {
        "n_val": len(kept),
        "dice": dice,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks/tune2020")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/localization.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for run_dir in sorted(args.workdir.glob("results/models/*/*/nall_r0")):
        problem, model = run_dir.parts[-3], run_dir.parts[-2]
        if not model.startswith("rl-"):
            continue
        rows.append(val_dice(run_dir, args.workdir / "results/prepared" / problem))
        print(rows[-1], flush=True)
    summary = {
        rule: {
            "mean_dice": round(float(np.mean([r["dice"][rule] for r in rows])), 4),
            "wins": sum(r["dice"][rule] > max(r["dice"].values()) - 1e-12 for r in rows),
        }
        for rule in RULES
    }
    save_result(
        {"machine": machine(), "workdir": str(args.workdir), "runs": rows, "summary": summary},
        args.out,
    )


if __name__ == "__main__":
    main()
