"""The evaluation stages: one model's metrics, and the paper's tables from many."""

import argparse
import json
import logging
from pathlib import Path

from rlnet.cli.declare import inp, out, param, stage

log = logging.getLogger("rlnet")

#: The per-case tables of several models, each named by its model (in the same order).
CASES = (
    inp("--cases", nargs="+", help="per-case TSVs"),
    param("--models", nargs="+", help="the model of each --cases file, in order"),
)
ALPHA = param("--alpha", type=float, default=0.05)
#: evaluation.p_adjust: the adjustment of every family of pairwise p-values.
P_ADJUST = param("--p-adjust", default="holm", choices=("holm", "bonferroni", "fdr_bh", "none"))


@stage(
    "metrics",
    "metrics of one model on its test set, with bootstrap CIs",
    inp("--predictions"),
    inp("--localization"),
    inp("--localizations", help="localizations.npz: the masks of every localization rule"),
    inp("--prepared"),
    inp("--run", help="the model's run.json (its identity)"),
    param("--bootstrap", type=int, default=1000),
    param("--seed", type=int, default=0),
    param(
        "--localization-rule",
        default="area",
        choices=("area", "threshold"),
        help="evaluation.localization: the rule of --localization's masks",
    ),
    out("--out"),
    out("--cases"),
)
def metrics(a: argparse.Namespace) -> None:
    from rlnet import evaluate

    run_info = json.loads(a.run.read_text())
    keys = ("problem", "model", "n", "rep", "n_train", "fingerprint", "family", "target")
    # why training stopped ("patience" or "budget"); a baseline's run has no epochs
    identity = {**{k: run_info[k] for k in keys}, "stopped_by": run_info.get("stopped_by")}
    record, per_case = evaluate.evaluate(
        a.predictions,
        a.localization,
        a.prepared,
        identity,
        n_boot=a.bootstrap,
        seed=a.seed,
        localizations_path=a.localizations,
        localization_rule=a.localization_rule,
    )
    evaluate.write(record, per_case, a.out, a.cases)
    log.info("metrics: %s", {k: round(v["value"], 4) for k, v in record["metrics"].items()})


def _read_cases(models: list[str], paths: list[Path]) -> dict:
    """{model: its per-case table}; ValueError when the lists differ in length."""
    from rlnet import tsv

    if len(models) != len(paths):
        raise ValueError(f"{len(models)} --models for {len(paths)} --cases files")
    return {model: tsv.read_table(path) for model, path in zip(models, paths, strict=True)}


@stage(
    "table2",
    "the paper's Table II: every metric of every model (TSV, Markdown, LaTeX)",
    inp("--metrics", nargs="+"),
    out("--tsv"),
    out("--markdown"),
    out("--latex"),
)
def table2(a: argparse.Namespace) -> None:
    from rlnet import atomic, tables, tsv

    records = tables.read_records(a.metrics)
    table, rule = tables.table2(records), tables.localization_rule(records)
    budget = tables.budget_note(table)
    if budget:
        log.warning("Table II: %s", budget)
    tsv.write_table(a.tsv, table)
    atomic.write_text(a.markdown, tables.to_markdown(table, rule))
    atomic.write_text(a.latex, tables.to_latex(table, rule))


@stage(
    "table3",
    "the paper's Table III for one problem: pairwise tests between models",
    *CASES,
    P_ADJUST,
    ALPHA,
    out("--out"),
)
def table3(a: argparse.Namespace) -> None:
    from rlnet import pairwise, tsv

    cases = _read_cases(a.models, a.cases)
    tsv.write_table(a.out, pairwise.table3(cases, a.p_adjust, a.alpha))


@stage(
    "table4",
    "the paper's Table IV for an Agatston problem: Stuart-Maxwell tests on its risk groups",
    *CASES,
    P_ADJUST,
    ALPHA,
    out("--out"),
)
def table4(a: argparse.Namespace) -> None:
    from rlnet import pairwise, tsv

    cases = _read_cases(a.models, a.cases)
    tsv.write_table(a.out, pairwise.table4(cases, a.alpha, a.p_adjust))


@stage(
    "comparison",
    "per-slice and per-subject rho and Dice of an RL and a segmentation model (liver)",
    *CASES,
    out("--out"),
)
def comparison(a: argparse.Namespace) -> None:
    from rlnet import supplementary, tsv

    tsv.write_table(a.out, supplementary.comparison(_read_cases(a.models, a.cases)))


@stage(
    "sample-size",
    "sample-size summary: mean, min, max, sd of rho and Dice per size",
    inp("--metrics", nargs="+"),
    out("--out"),
)
def sample_size(a: argparse.Namespace) -> None:
    from rlnet import supplementary, tables, tsv

    tsv.write_table(a.out, supplementary.sample_size_summary(tables.read_records(a.metrics)))
