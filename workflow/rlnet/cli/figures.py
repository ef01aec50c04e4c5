"""The figure stages (workflow/rules/figures.smk): one per kind of figure, each writing --out
(.pdf) and the .png and .json of the numbers drawn beside it."""

import argparse
import logging
from pathlib import Path

from rlnet.cli.declare import BIOMARKER_HELP, RISK_SCHEMES, biomarker, inp, out, param, stage
from rlnet.cli.declare import wildcard as wildcard_arg

log = logging.getLogger("rlnet")

FIGURE = out("--out", beside=(".png", ".json"), help="PDF; .png and .json beside it")
BIOMARKER = param("--biomarker", type=biomarker, help=BIOMARKER_HELP)
MODEL = wildcard_arg("--model")
#: One model's test predictions drawn against the reference.
AGREEMENT = (inp("--predictions"), BIOMARKER, MODEL, FIGURE)


def _predictions(path: Path):
    from rlnet import tsv

    return tsv.read_table(path, required=("case_id", "reference", "prediction"))


@stage(
    "figure-bland-altman",
    "Bland-Altman plot of one model's test predictions (Figs. 8, 9)",
    *AGREEMENT,
)
def bland_altman(a: argparse.Namespace) -> None:
    from rlnet.figures import agreement

    numbers = agreement.bland_altman(_predictions(a.predictions), a.biomarker, a.model, a.out)
    log.info("Bland-Altman: bias %s, n %d -> %s", numbers["bias"], numbers["n"], a.out)


@stage(
    "figure-correlation",
    "correlation plot of one model's test predictions (Figs. 8, 9)",
    *AGREEMENT,
)
def correlation(a: argparse.Namespace) -> None:
    from rlnet.figures import agreement

    numbers = agreement.correlation(_predictions(a.predictions), a.biomarker, a.model, a.out)
    log.info("correlation: rho %s, n %d -> %s", numbers["rho"], numbers["n"], a.out)


@stage(
    "figure-confusion",
    "risk-group confusion matrices of one model of an Agatston biomarker (Fig. 9)",
    inp("--predictions"),
    BIOMARKER,
    MODEL,
    param("--risk-scheme", default="paper", choices=RISK_SCHEMES),
    FIGURE,
)
def confusion(a: argparse.Namespace) -> None:
    from rlnet import tsv
    from rlnet.figures import confusion as drawing

    table = tsv.read_table(a.predictions, required=("reference_group", "predicted_group"))
    numbers = drawing.confusion(table, a.biomarker, a.model, a.out, a.risk_scheme)
    log.info("confusion: n %d, accuracy %s -> %s", numbers["n"], numbers["accuracy"], a.out)


@stage(
    "figure-overlays",
    "localization overlays of six test cases (Figs. 8, 11)",
    inp("--predictions"),
    inp("--localization"),
    inp("--prepared"),
    BIOMARKER,
    MODEL,
    FIGURE,
)
def overlays(a: argparse.Namespace) -> None:
    import numpy as np

    from rlnet.figures import overlays as drawing
    from rlnet.prepare import Prepared

    numbers = drawing.overlays(
        _predictions(a.predictions),
        np.load(a.localization, mmap_mode="r"),
        Prepared.load(a.prepared),
        a.biomarker,
        a.model,
        a.out,
    )
    log.info("overlays: cases %s -> %s", numbers["case_ids"], a.out)


@stage(
    "figure-comparison",
    "localization of RL and segmentation models side by side (Fig. 12: liver)",
    BIOMARKER,
    param("--models", nargs="+"),
    inp("--predictions", nargs="+", help="one per model"),
    inp("--localization", nargs="+", help="one per model"),
    inp("--prepared"),
    FIGURE,
)
def comparison(a: argparse.Namespace) -> None:
    import numpy as np

    from rlnet.figures import overlays as drawing
    from rlnet.prepare import Prepared

    if not len(a.models) == len(a.predictions) == len(a.localization):
        raise ValueError("--models, --predictions and --localization differ in length")
    models = {
        m: (_predictions(p), np.load(loc, mmap_mode="r"))
        for m, p, loc in zip(a.models, a.predictions, a.localization, strict=True)
    }
    numbers = drawing.comparison(models, Prepared.load(a.prepared), a.biomarker, a.out)
    log.info("comparison: cases %s -> %s", numbers["case_ids"], a.out)


@stage(
    "figure-abs-error",
    "box plots of absolute error per model of one problem (Fig. 10)",
    BIOMARKER,
    param("--models", nargs="+", help="the model of each --predictions file, in order"),
    inp("--predictions", nargs="+"),
    FIGURE,
)
def abs_error(a: argparse.Namespace) -> None:
    from rlnet.figures import errors

    if len(a.models) != len(a.predictions):
        raise ValueError(f"{len(a.models)} --models for {len(a.predictions)} --predictions")
    tables = {m: _predictions(p) for m, p in zip(a.models, a.predictions, strict=True)}
    errors.abs_error(tables, a.biomarker, a.out)
    log.info("absolute error: %s -> %s", sorted(tables), a.out)


@stage(
    "figure-sample-size",
    "rho (and Dice) against training-set size (Fig. 13)",
    inp("--table", help="results/tables/sample_size.tsv"),
    BIOMARKER,
    FIGURE,
)
def sample_size(a: argparse.Namespace) -> None:
    from rlnet import tsv
    from rlnet.figures import sample_size as drawing

    table = tsv.read_table(a.table, required=("problem", "metric", "n", "mean", "sd"))
    drawing.sample_size(table, a.biomarker, a.out)
    log.info("sample size: %s -> %s", a.biomarker.problem, a.out)


@stage(
    "figure-distribution",
    "biomarker distribution per split, log y-axis (Figs. 2, 5, 6)",
    inp("--split"),
    inp("--manifest"),
    BIOMARKER,
    FIGURE,
)
def distribution(a: argparse.Namespace) -> None:
    from rlnet import tsv
    from rlnet.figures import data

    table = data.cases(tsv.read_table(a.split), tsv.read_table(a.manifest), a.biomarker)
    data.distribution(table, a.biomarker, a.out)
    log.info("distribution: %d cases -> %s", len(table), a.out)


@stage(
    "figure-risk-groups",
    "risk-group proportions per split of an Agatston biomarker (Fig. 3)",
    BIOMARKER,
    inp("--split"),
    inp("--manifest"),
    param("--risk-scheme", default="paper", choices=RISK_SCHEMES),
    FIGURE,
)
def risk_groups(a: argparse.Namespace) -> None:
    from rlnet import tsv
    from rlnet.figures import data

    table = data.cases(tsv.read_table(a.split), tsv.read_table(a.manifest), a.biomarker)
    data.risk_groups(table, a.biomarker, a.out, a.risk_scheme)
    log.info("risk groups: %d cases -> %s", len(table), a.out)
