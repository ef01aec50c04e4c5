"""RL models trained from several starting output biases; the run validation prefers is kept.

``training.output_bias_starts`` lists shifts d (logit units) added to the automatic output
bias; each start is trained as a run of its own (checkpoint ``<checkpoint_dir>/start<d>``,
outputs ``<out_dir>/starts/start<d>``), and the one with the lowest best validation loss
becomes the model (``out_dir``'s model.pt, log.tsv, run.json). The validation loss needs no
masks, so the rule holds on a user's data. One start (the default ``[0]``), a fixed output bias
or a model without an RL head train once, as ``Trainer.fit``.
"""

import shutil
from dataclasses import replace
from pathlib import Path

from rlnet import io
from rlnet.models import model_family
from rlnet.training.loop import RunSpec, Trainer

#: What run.json records of each start.
START_KEYS = (
    "output_bias",
    "best_val_loss",
    "best_epoch",
    "epochs",
    "stopped_by",
    "train_seconds",
)


def shifts(settings: dict, model: str) -> list[float]:
    """The starts a run trains: the configured shifts for an RL model with ``auto`` bias, else
    one (no shift)."""
    if model_family(model) != "rl" or settings["output_bias"] != "auto":
        return [0.0]
    return [float(d) for d in settings.get("output_bias_starts", [0.0])]


def started(spec: RunSpec, shift: float) -> RunSpec:
    """``spec`` starting ``shift`` above the automatic bias (unchanged for no shift, so a
    one-start run keeps its fingerprint)."""
    if shift == 0:
        return spec
    return replace(spec, settings={**spec.settings, "output_bias_shift": shift})


def start_name(shift: float) -> str:
    """Folder name of one start: ``start+0``, ``start+2``, ``start-1.5``."""
    return f"start{shift:+g}"


def fit(
    spec: RunSpec, prepared_dir: Path, device: str, out_dir: Path, checkpoint_dir: Path
) -> dict:
    """Train ``spec`` from each start and keep the best by validation loss; run.json's content
    (with ``output_bias_starts``: each start's figures, and ``train_seconds`` of them all)."""
    out_dir, checkpoint_dir = Path(out_dir), Path(checkpoint_dir)
    starts = shifts(spec.settings, spec.model)
    if len(starts) == 1:
        return Trainer(started(spec, starts[0]), prepared_dir, device).fit(out_dir, checkpoint_dir)
    runs = [
        Trainer(started(spec, shift), prepared_dir, device).fit(
            out_dir / "starts" / start_name(shift), checkpoint_dir / start_name(shift)
        )
        for shift in starts
    ]
    best = min(range(len(starts)), key=lambda k: runs[k]["best_val_loss"])
    chosen = out_dir / "starts" / start_name(starts[best])
    for name in ("model.pt", "log.tsv"):
        shutil.copyfile(chosen / name, out_dir / name)
    run = {
        **runs[best],
        "output_bias_shift": starts[best],
        "output_bias_starts": [
            {"shift": shift, **{key: run[key] for key in START_KEYS}}
            for shift, run in zip(starts, runs, strict=True)
        ],
        "train_seconds": float(sum(run["train_seconds"] for run in runs)),
    }
    io.write_json(out_dir / "run.json", run)
    return run
