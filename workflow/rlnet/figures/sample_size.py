"""Performance against training-set size (the paper's Fig. 13), from
results/tables/sample_size.tsv: per metric (rho; Dice for pma and sfa), the mean over repeats
as a line, the min-max range shaded and +- 1 SD (sample SD over repeats, as in the table) as
error bars."""

from pathlib import Path

import numpy as np
import pandas as pd

from rlnet.biomarker import Biomarker
from rlnet.figures import style

METRIC_LABELS = {"rho": "Pearson's ρ (unitless)", "dice": "Dice coefficient (unitless)"}


def sample_size(table: pd.DataFrame, biomarker: Biomarker, out: str | Path) -> dict:
    """Draw one problem's sample-size curves; return the JSON numbers (the table's rows)."""
    rows = table[table["problem"] == biomarker.problem]
    if rows.empty:
        raise ValueError(f"sample-size table has no rows for problem {biomarker.problem!r}")
    metrics = [m for m in ("rho", "dice") if m in set(rows["metric"])]
    metrics += sorted(set(rows["metric"]) - set(metrics))
    fig, axes = style.new_figure(3.2 * len(metrics), 3.0, ncols=len(metrics), squeeze=False)
    numbers = {"figure": "sample_size", "problem": biomarker.problem, "metrics": {}}
    for ax, metric in zip(axes[0], metrics, strict=True):
        part = rows[rows["metric"] == metric].sort_values("n")
        n = part["n"].to_numpy(float)
        mean, sd = part["mean"].to_numpy(float), part["sd"].to_numpy(float)
        ax.fill_between(
            n,
            part["min"].to_numpy(float),
            part["max"].to_numpy(float),
            color="C0",
            alpha=0.2,
            label="min-max",
        )
        ax.errorbar(
            n,
            mean,
            yerr=np.nan_to_num(sd),
            color="C0",
            marker="o",
            ms=4,
            capsize=3,
            label="mean ± SD",
        )
        ax.set_xlabel("Training-set size (cases)")
        ax.set_ylabel(METRIC_LABELS.get(metric, f"{metric} (unitless)"))
        ax.set_title(f"{biomarker.short}: {metric}")
        ax.legend(loc="lower right", frameon=False)
        numbers["metrics"][metric] = [
            {
                "n": int(r["n"]),
                "mean": style.finite(r["mean"]),
                "min": style.finite(r["min"]),
                "max": style.finite(r["max"]),
                "sd": style.finite(r["sd"]),
                "repeats": int(r["repeats"]),
            }
            for _, r in part.iterrows()
        ]
    fig.tight_layout()
    style.save(fig, out, numbers)
    return numbers
