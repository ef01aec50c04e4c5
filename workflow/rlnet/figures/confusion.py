"""cac risk-group confusion matrices, counts and row-normalised (the paper's Fig. 9, right).

Rows: the reference risk group; columns: the group of the predicted Agatston score. Both come
from predictions.tsv (``reference_group``, ``predicted_group``), grouped with the configured
scheme at prediction time. A row with no cases is all zeros in the normalised matrix.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from rlnet.biomarker import Biomarker
from rlnet.figures import style

N_GROUPS = 5
GROUP_RANGES = {
    "paper": ("[0, 10)", "[10, 100)", "[100, 400)", "[400, 1000)", "≥ 1000"),
    "clinical": ("0", "(0, 10]", "(10, 100]", "(100, 400]", "> 400"),
}


def confusion_numbers(reference_group, predicted_group, n_groups: int = N_GROUPS) -> dict:
    """counts[i][j]: cases of reference group i predicted in group j; row-normalised too."""
    ref = np.asarray(reference_group, dtype=int)
    pred = np.asarray(predicted_group, dtype=int)
    counts = np.zeros((n_groups, n_groups), dtype=int)
    np.add.at(counts, (ref, pred), 1)
    rows = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    return {
        "n": int(counts.sum()),
        "counts": counts.tolist(),
        "row_normalised": normalised.tolist(),
        "accuracy": float(np.trace(counts) / counts.sum()) if counts.sum() else None,
    }


def _draw(ax, matrix: np.ndarray, text: list[list[str]], labels, title: str, vmax: float) -> None:
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=vmax)
    ax.grid(False)
    ticks = range(len(labels))
    ax.set_xticks(ticks, [str(k) for k in ticks])
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("Predicted risk group (Agatston units)")
    ax.set_ylabel("Reference risk group (Agatston units)")
    ax.set_title(title)
    for i, row in enumerate(text):
        for j, cell in enumerate(row):
            dark = matrix[i, j] > 0.6 * vmax
            ax.text(j, i, cell, ha="center", va="center", color="w" if dark else "k", fontsize=7)


def confusion(
    table: pd.DataFrame, biomarker: Biomarker, model: str, out: str | Path, scheme: str = "paper"
) -> dict:
    """Draw both risk-group confusion matrices of one model of an Agatston biomarker; return
    the JSON numbers."""
    numbers = confusion_numbers(table["reference_group"], table["predicted_group"])
    counts = np.asarray(numbers["counts"])
    normalised = np.asarray(numbers["row_normalised"])
    labels = [f"{k}: {r}" for k, r in enumerate(GROUP_RANGES.get(scheme, GROUP_RANGES["paper"]))]
    fig, axes = style.new_figure(7.4, 3.3, ncols=2)
    _draw(
        axes[0],
        counts,
        [[str(v) for v in row] for row in counts],
        labels,
        f"Counts (n = {numbers['n']})",
        max(counts.max(), 1),
    )
    _draw(
        axes[1],
        normalised,
        [[f"{v:.2f}" for v in row] for row in normalised],
        labels,
        "Row-normalised (fraction of row)",
        1.0,
    )
    axes[1].set_ylabel("")
    fig.suptitle(f"{biomarker.short} risk groups, {style.model_label(model)} ({scheme} scheme)")
    fig.tight_layout()
    numbers = {
        "figure": "confusion",
        "problem": biomarker.problem,
        "model": model,
        "scheme": scheme,
        **numbers,
    }
    style.save(fig, out, numbers)
    return numbers
