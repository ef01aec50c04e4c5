"""The model stages: training, prediction on the test split and on new scans, baselines."""

import argparse
import logging
from pathlib import Path

from rlnet.cli.declare import (
    AGATSTON,
    RISK_SCHEMES,
    agatston_kw,
    inp,
    json_block,
    out,
    param,
    settings_of,
    size,
    stage,
    wildcard,
)
from rlnet.settings import TrainingSettings

log = logging.getLogger("rlnet")


def start_shift(text: str) -> float | None:
    """A training job's start: ``only`` (the run's one start: None) or the shift of one of its
    starts, as its folder names it (``+2``, ``-1.5``)."""
    return None if text == "only" else float(text)


@stage(
    "train",
    "train one model on one problem from one start (resumes from its last checkpoint)",
    inp("--prepared"),
    wildcard("--problem"),
    wildcard("--model"),
    wildcard("--n", type=size, default=None, help="training-set size or 'all'"),
    wildcard("--rep", type=int, default=0),
    wildcard(
        "--start",
        type=start_shift,
        default=None,
        help="'only' (a run of one start) or the shift of one start of several (+2)",
    ),
    param("--seed", type=int),
    param(
        "--settings",
        type=settings_of(TrainingSettings, "training"),
        help="the run's training settings (JSON; rlnet.config.training_settings)",
    ),
    param("--device", default="auto"),
    param("--threads", type=int, default=None, help="torch CPU threads"),
    out("--out-dir"),
    param("--checkpoint-dir", type=Path),
)
def train(a: argparse.Namespace) -> None:
    import torch

    from rlnet.training import starts
    from rlnet.training.run_spec import RunSpec

    if a.threads:
        torch.set_num_threads(a.threads)
    spec = RunSpec(a.problem, a.model, a.n, a.rep, a.seed, a.settings)
    result = starts.train(spec, a.start, a.prepared, a.device, a.out_dir, a.checkpoint_dir)
    log.info(
        "trained %s on %s: %d epochs, best %d, %.1f s",
        a.model,
        a.problem,
        result["epochs"],
        result["best_epoch"],
        result["train_seconds"],
    )


@stage(
    "select-start",
    "keep the start of an RL run with the lowest best validation loss as its model",
    inp("--runs", nargs="+", help="run.json of each start, in the order of output_bias_starts"),
    inp("--models", nargs="+", help="model.pt of each start"),
    inp("--logs", nargs="+", help="log.tsv of each start"),
    out("--out-dir"),
)
def select_start(a: argparse.Namespace) -> None:
    from rlnet.training import starts

    beside = [[Path(p).parent for p in group] for group in (a.runs, a.models, a.logs)]
    if not beside[0] == beside[1] == beside[2]:
        raise starts.StartError("--runs, --models and --logs: not the same start folders")
    run = starts.select(a.runs, a.out_dir)
    log.info(
        "kept start%+g of %s on %s (best validation loss %.6g)",
        run["output_bias_shift"],
        run["model"],
        run["problem"],
        run["best_val_loss"],
    )


#: The arguments of applying a trained model: which, where, and how its output is read.
MODEL_USE = (
    inp("--model-file"),
    wildcard("--problem"),
    wildcard("--model"),
    param("--device", default="auto"),
    param("--batch-size", type=int, default=8),
    AGATSTON,
    param("--risk-scheme", default="paper", choices=RISK_SCHEMES),
    param(
        "--localization",
        default="area",
        help="evaluation.localization: how maps become masks (area | threshold)",
    ),
    out("--out-dir"),
)


def _model_use(a: argparse.Namespace) -> dict:
    """The keyword arguments of rlnet.predict.predict that MODEL_USE's settings give."""
    return {
        "device": a.device,
        "batch_size": a.batch_size,
        "agatston_kw": agatston_kw(a),
        "risk_scheme": a.risk_scheme,
        "localization": a.localization,
    }


@stage(
    "predict",
    "predict the test split: values, localization masks (NIfTI)",
    *MODEL_USE,
    inp("--prepared"),
)
def predict(a: argparse.Namespace) -> None:
    from rlnet.predict import predict as run_predict

    table = run_predict(a.model_file, a.prepared, a.problem, a.model, a.out_dir, **_model_use(a))
    log.info("predicted %d test cases -> %s", len(table), a.out_dir)


@stage(
    "infer",
    "apply a trained model to new scans without reference values: values, maps (NIfTI)",
    *MODEL_USE[:-1],
    out("--out-dir", replaced=True),
    param("--settings", type=json_block, help="problems.<name> block (JSON)"),
    inp("--scans", help="a folder of scans, a scans TSV or one image"),
    filled=("images",),
)
def infer(a: argparse.Namespace) -> None:
    from rlnet.infer import infer_scans
    from rlnet.scans import PATH_COLUMNS, check_scans, read_scans

    scans, lines = read_scans(a.scans)
    scans = check_scans(scans, a.scans, a.settings, lines)
    a.images = [Path(v) for c in PATH_COLUMNS for v in scans[c] if v]
    infer_scans(
        a.model_file,
        a.problem,
        a.model,
        a.settings,
        scans,
        a.out_dir,
        source=a.scans,
        lines=lines,
        **_model_use(a),
    )


@stage(
    "baseline",
    "a baseline without learning on the test split, written like a model's predictions",
    inp("--prepared"),
    wildcard("--problem"),
    wildcard("--baseline", help="candidates | rule | heart-rule | skin-rule"),
    param(
        "--rule",
        default="none",
        help="problems.<name>.baselines.rule: region | agatston | threshold; none for the "
        "candidates baseline",
    ),
    AGATSTON,
    param("--risk-scheme", default="paper", choices=RISK_SCHEMES),
    out("--out-dir"),
)
def baseline(a: argparse.Namespace) -> None:
    from rlnet.baselines import run_baseline

    table = run_baseline(
        a.prepared,
        a.problem,
        a.baseline,
        a.out_dir,
        rule=None if a.rule == "none" else a.rule,
        agatston_kw=agatston_kw(a),
        risk_scheme=a.risk_scheme,
    )
    log.info("baseline %s: %d test cases -> %s", a.baseline, len(table), a.out_dir)
