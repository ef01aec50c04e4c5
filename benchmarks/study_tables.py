"""Tables II-IV of a built study as markdown, for the figures of record.

Reads `results/tables/table2.tsv`, `table3_<problem>.tsv` and `table4_<problem>.tsv` of a study
folder (by default the record study that `bench_study.py` builds) and writes them as markdown
tables:
Table II per problem (value [95% bootstrap CI over test subjects of that value]; with repeats,
the mean over the runs [the bootstrap CI of that mean] and the runs' sd and range), Table III
(the test unit, rho of both models, Williams' p, Wilcoxon's paired p of Dice and dH and the
paper's Dunn p of Dice, each adjusted over its family of pairs) and Table IV (Stuart-Maxwell,
adjusted). Numbers are printed, not chosen: this script reads tables the workflow made.

    .venv/bin/python benchmarks/study_tables.py [--workdir benchmarks/study]
        [--out benchmarks/results/study-tables.md]
"""

import argparse
import math
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
METRICS = (
    "rho",
    "icc",
    "dice",
    "dice_area",
    "dice_threshold",
    "dice_all",
    "rho_patient",
    "dice_patient",
    "kappa",
    "accuracy",
    "agatston_fp",
    "calcium_free_empty",
)


def _p(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.2g}"


def _cell(row: pd.Series) -> str:
    """value [ci_low, ci_high]; for several runs their mean [the CI of the mean]; sd (min to max,
    n runs)."""
    if pd.isna(row["value"]):
        return "-"
    text = f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    if int(row["runs"]) > 1 and not math.isnan(row["sd_runs"]):
        spread = f"{row['min_runs']:.3f} to {row['max_runs']:.3f}, {int(row['runs'])} runs"
        text += f"; sd {row['sd_runs']:.3f} ({spread})"
    return text


def table2(tables: Path) -> list[str]:
    """Table II, one markdown table per problem."""
    data = pd.read_csv(tables / "table2.tsv", sep="\t")
    lines = []
    for problem, block in data.groupby("problem", sort=False):
        metrics = [m for m in METRICS if m in set(block["metric"])]
        lines += [f"{problem}:", "", "| model | " + " | ".join(metrics) + " |"]
        lines.append("|---" * (len(metrics) + 1) + "|")
        for model, rows in block.groupby("model", sort=False):
            by_metric = {r["metric"]: _cell(r) for _, r in rows.iterrows()}
            lines.append(
                f"| {model} | " + " | ".join(by_metric.get(m, "-") for m in metrics) + " |"
            )
        lines.append("")
    return lines


def table3(tables: Path, problem: str) -> list[str]:
    """Table III of one problem."""
    data = pd.read_csv(tables / f"table3_{problem}.tsv", sep="\t")
    unit, adjust = data["unit"].iloc[0], data["p_adjust"].iloc[0]
    lines = [f"Table III {problem} (tests on {unit}s; p adjusted: {adjust}):", ""]
    lines.append(
        "| A vs B | rho A / B | p Williams | Dice A / B | p Dice (Wilcoxon) | p dH (Wilcoxon) "
        "| p Dice (Dunn) |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for _, r in data.iterrows():
        dice = "-" if pd.isna(r["dice_a"]) else f"{r['dice_a']:.3f} / {r['dice_b']:.3f}"
        lines.append(
            f"| {r['model_a']} vs {r['model_b']} | {r['rho_a']:.3f} / {r['rho_b']:.3f} | "
            f"{_p(r['p_rho_adj'])} | {dice} | {_p(r['wilcoxon_dice_p_adj'])} | "
            f"{_p(r['wilcoxon_dh_p_adj'])} | {_p(r['dunn_dice_p_adj'])} |"
        )
    return [*lines, ""]


def table4(path: Path) -> list[str]:
    """Table IV (risk groups of one Agatston problem) from its table4_<problem>.tsv."""
    data = pd.read_csv(path, sep="\t")
    problem = path.stem.removeprefix("table4_")
    lines = [f"Table IV ({problem} risk groups, Stuart-Maxwell):", ""]
    lines += ["| A vs B | chi2 | df | p | p adjusted | significant |", "|---|---|---|---|---|---|"]
    for _, r in data.iterrows():
        lines.append(
            f"| {r['model_a']} vs {r['model_b']} | {r['chi2']:.2f} | {int(r['df'])} | "
            f"{_p(r['p'])} | {_p(r['p_adj'])} ({r['p_adjust']}) | {int(r['significant'])} |"
        )
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks/study")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/study-tables.md")
    args = parser.parse_args()
    tables = args.workdir / "results" / "tables"
    lines = [
        "Table II, test split (value [95% bootstrap CI over test subjects of that value: one "
        "run's, or for several runs their mean's]; sd (min to max): the spread over training runs, "
        "which the CI does not cover):",
        "",
        *table2(tables),
    ]
    for path in sorted(tables.glob("table3_*.tsv")):
        lines += table3(tables, path.stem.removeprefix("table3_"))
    for path in sorted(tables.glob("table4_*.tsv")):
        lines += table4(path)
    args.out.write_text("\n".join(lines))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
