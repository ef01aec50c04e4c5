"""RL models trained from several starting output biases; the run validation prefers is kept.

``training.output_bias_starts`` lists shifts d (logit units) added to the automatic output
bias. Each start is a training job of its own (``train_start``: outputs
``<run>/starts/start<d>/``, checkpoint ``<checkpoint run>/start<d>/``), and ``select`` (rule
``select_start``) makes the one with the lowest best validation loss the model: the run
folder's model.pt, log.tsv and run.json. The validation loss needs no masks, so the rule holds
on a user's data. One start (``[0]``), a fixed output bias or a model without an RL head train
once, straight into the run folder.

Standard library only at import (training and I/O are imported where they run): the Snakefile
reads a run's starts at parse time.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rlnet.model_registry import model_family

if TYPE_CHECKING:
    from rlnet.settings import TrainingSettings
    from rlnet.training.run_spec import RunSpec

#: What run.json records of each start.
START_KEYS = (
    "output_bias",
    "best_val_loss",
    "best_epoch",
    "epochs",
    "stopped_by",
    "train_seconds",
)
#: The files of a run, written by a training job and copied from the kept start.
RUN_FILES = ("model.pt", "log.tsv")
#: The run.json keys that say which run a start belongs to.
RUN_IDENTITY = ("problem", "model", "n", "rep", "seed")


class StartError(ValueError):
    """A start that the run does not train, or start files that do not fit together."""


def shifts(settings: TrainingSettings, model: str) -> list[float]:
    """The starts a run trains: the configured shifts for an RL model with ``auto`` bias, else
    one (no shift)."""
    if model_family(model) != "rl" or settings.output_bias != "auto":
        return [0.0]
    return [float(d) for d in settings.output_bias_starts]


def started(spec: RunSpec, shift: float) -> RunSpec:
    """``spec`` starting ``shift`` above the automatic bias (no shift is the setting's
    default, outside its identity, so a one-start run keeps its fingerprint)."""
    return replace(spec, settings=replace(spec.settings, output_bias_shift=shift))


def start_name(shift: float) -> str:
    """Folder name of one start: ``start+0``, ``start+2``, ``start-1.5``."""
    return f"start{shift:+g}"


def shift_of(run: dict) -> float:
    """The start a run.json was trained from (its settings' ``output_bias_shift``, 0 when
    absent)."""
    return float(run["settings"].get("output_bias_shift", 0.0))


def train(
    spec: RunSpec,
    shift: float | None,
    prepared_dir: Path,
    device: str,
    out_dir: Path,
    checkpoint_dir: Path,
) -> dict:
    """Train ``spec`` from start ``shift`` (None: the run's only start) into ``out_dir``;
    run.json's content. StartError when ``shift`` is not one of the run's starts, or None for a
    run of several."""
    starts = shifts(spec.settings, spec.model)
    name = f"{spec.model} on {spec.problem}"
    if shift is None and len(starts) > 1:
        listed = ", ".join(start_name(d) for d in starts)
        raise StartError(f"{name} trains from {len(starts)} starts ({listed}): one job each")
    if shift is not None and shift not in starts:
        listed = ", ".join(start_name(d) for d in starts)
        raise StartError(f"{name}: {start_name(shift)} is not one of its starts ({listed})")
    from rlnet.training.loop import Trainer

    shift = starts[0] if shift is None else shift
    return Trainer(started(spec, shift), prepared_dir, device).fit(out_dir, checkpoint_dir)


def select(runs: list[Path], out_dir: Path) -> dict:
    """Keep the start with the lowest best validation loss among the starts whose run.json
    files ``runs`` lists (in the order of ``output_bias_starts``; the first of equal losses):
    its model.pt and log.tsv (beside its run.json) copied into ``out_dir``, and run.json with
    ``output_bias_starts`` (each start's figures) and ``train_seconds`` of them all. Returns
    run.json's content."""
    from rlnet import atomic

    records = [json.loads(Path(path).read_text()) for path in runs]
    listed = ", ".join(map(str, runs))
    if len({tuple(run[key] for key in RUN_IDENTITY) for run in records}) > 1:
        raise StartError(f"{listed}: starts of different runs ({', '.join(RUN_IDENTITY)})")
    starts = [shift_of(run) for run in records]
    if len(set(starts)) != len(starts):
        raise StartError(f"{listed}: two runs of the same start")
    best = min(range(len(records)), key=lambda k: records[k]["best_val_loss"])
    out_dir = Path(out_dir)
    for name in RUN_FILES:
        with atomic.atomic_path(out_dir / name) as tmp:
            shutil.copyfile(Path(runs[best]).parent / name, tmp)
    run = {
        **records[best],
        "output_bias_shift": starts[best],
        "output_bias_starts": [
            {"shift": shift, **{key: run[key] for key in START_KEYS}}
            for shift, run in zip(starts, records, strict=True)
        ],
        "train_seconds": float(sum(run["train_seconds"] for run in records)),
    }
    atomic.write_json(out_dir / "run.json", run)
    return run
