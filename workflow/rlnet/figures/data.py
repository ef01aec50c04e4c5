"""The data figures: biomarker distribution per split on a log y-axis (the paper's Figs. 2, 5,
6) and the risk-group proportions per split of an Agatston biomarker (Fig. 3), from the split
and manifest tables.

Distributions: the same bins for every split (``BINS`` equal-width bins from 0 to the largest
value), each split's histogram normalised to proportions of its cases (sums to 1).
"""

from pathlib import Path

import numpy as np
import pandas as pd

from rlnet import biomarkers
from rlnet.biomarker import Biomarker
from rlnet.figures import style

SPLITS = ("train", "val", "test")
BINS = 20


def cases(split: pd.DataFrame, manifest: pd.DataFrame, biomarker: Biomarker) -> pd.DataFrame:
    """case_id, split and the plotted value (Agatston score for cac, the manifest value else)."""
    column = biomarker.column
    table = split[["case_id", "split"]].merge(manifest[["case_id", column]], on="case_id")
    if len(table) != len(split):
        raise ValueError(f"{len(split) - len(table)} split case(s) are not in the manifest")
    return table.rename(columns={column: "plotted"}).astype({"plotted": float})


def distribution(table: pd.DataFrame, biomarker: Biomarker, out: str | Path) -> dict:
    """Normalised histograms per split on a log y-axis; ``table`` from ``cases``."""
    values = table["plotted"].to_numpy(float)
    top = float(values.max()) if values.size and values.max() > 0 else 1.0
    edges = np.linspace(0.0, top, BINS + 1)
    fig, ax = style.new_figure(3.8, 3.0)
    numbers = {
        "figure": "distribution",
        "problem": biomarker.problem,
        "bin_edges": edges.tolist(),
        "splits": {},
    }
    centres = (edges[:-1] + edges[1:]) / 2
    for name in SPLITS:
        part = table.loc[table["split"] == name, "plotted"].to_numpy(float)
        if not part.size:
            continue
        hist, _ = np.histogram(part, bins=edges)
        proportion = hist / part.size
        ax.step(
            centres,
            np.where(proportion > 0, proportion, np.nan),
            where="mid",
            color=style.SPLIT_COLOURS[name],
            label=f"{name} (n = {part.size})",
        )
        numbers["splits"][name] = {
            "n": int(part.size),
            "counts": hist.tolist(),
            "proportions": proportion.tolist(),
        }
    ax.set_yscale("log")
    ax.set_xlabel(biomarker.axis_label())
    ax.set_ylabel("Proportion of the split's cases (log scale)")
    ax.set_title(f"{biomarker.short} distribution per split")
    ax.legend(frameon=False)
    fig.tight_layout()
    style.save(fig, out, numbers)
    return numbers


def risk_groups(
    table: pd.DataFrame, biomarker: Biomarker, out: str | Path, scheme: str = "paper"
) -> dict:
    """Proportion of each split's cases per risk group of an Agatston biomarker, grouped bars;
    ``table`` from ``cases``."""
    groups = biomarkers.risk_group(table["plotted"].to_numpy(float), scheme)
    n_groups = 5
    fig, ax = style.new_figure(4.2, 3.0)
    width = 0.8 / len(SPLITS)
    numbers = {
        "figure": "risk_groups",
        "problem": biomarker.problem,
        "scheme": scheme,
        "splits": {},
    }
    for s, name in enumerate(SPLITS):
        in_split = (table["split"] == name).to_numpy()
        if not in_split.any():
            continue
        count = np.bincount(groups[in_split], minlength=n_groups)
        proportion = count / count.sum()
        ax.bar(
            np.arange(n_groups) + (s - 1) * width,
            proportion,
            width,
            color=style.SPLIT_COLOURS[name],
            label=f"{name} (n = {count.sum()})",
        )
        numbers["splits"][name] = {
            "n": int(count.sum()),
            "counts": count.tolist(),
            "proportions": proportion.tolist(),
        }
    ax.set_xticks(range(n_groups), [f"{k}" for k in range(n_groups)])
    ax.set_xlabel(f"Risk group ({scheme} scheme, by Agatston score)")
    ax.set_ylabel("Proportion of the split's cases (fraction)")
    ax.set_title(f"{biomarker.short} risk-group proportions per split")
    ax.legend(frameon=False)
    fig.tight_layout()
    style.save(fig, out, numbers)
    return numbers
