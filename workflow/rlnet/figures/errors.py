"""Absolute error per model of one problem, as box plots (the paper's Fig. 10).

Whiskers at 1.5 IQR (matplotlib's default), outliers drawn; the JSON has each model's n and
the quartiles, median and mean of |prediction - reference|.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from rlnet.biomarker import Biomarker
from rlnet.figures import style


def error_numbers(table: pd.DataFrame) -> dict:
    err = np.abs(table["prediction"].to_numpy(float) - table["reference"].to_numpy(float))
    q1, median, q3 = (np.percentile(err, q) for q in (25, 50, 75)) if err.size else (np.nan,) * 3
    return {
        "n": int(err.size),
        "mean": style.finite(err.mean()) if err.size else None,
        "median": style.finite(median),
        "q1": style.finite(q1),
        "q3": style.finite(q3),
        "max": style.finite(err.max()) if err.size else None,
    }


def abs_error(tables: dict[str, pd.DataFrame], biomarker: Biomarker, out: str | Path) -> dict:
    """Box plots of |prediction - reference| of each model's test predictions."""
    models = style.model_order(list(tables))
    errors = [
        np.abs(tables[m]["prediction"].to_numpy(float) - tables[m]["reference"].to_numpy(float))
        for m in models
    ]
    fig, ax = style.new_figure(max(2.6, 1.0 + 0.9 * len(models)), 3.0)
    ax.boxplot(
        errors,
        tick_labels=[style.model_label(m) for m in models],
        widths=0.6,
        medianprops={"color": "C3"},
        flierprops={"markersize": 3},
    )
    ax.set_ylabel(biomarker.axis_label("absolute error of the predicted"))
    ax.set_xlabel("Model")
    ax.set_title(f"{biomarker.short}: absolute error on the test set")
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    numbers = {
        "figure": "abs_error",
        "problem": biomarker.problem,
        "models": models,
        "errors": {m: error_numbers(tables[m]) for m in models},
    }
    style.save(fig, out, numbers)
    return numbers
