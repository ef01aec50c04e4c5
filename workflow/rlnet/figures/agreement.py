"""Agreement between reference and predicted biomarker: Bland-Altman and correlation plots
(the paper's Figs. 8 and 9, left and centre).

Bland-Altman: x the mean of reference and prediction, y the difference prediction - reference;
the bias (mean difference) and the limits of agreement bias +- 1.96 SD, where SD is the
*sample* standard deviation of the differences (ddof=1).

Correlation: prediction against reference, the identity line, the least-squares fitted line and
Pearson's rho in the legend. The six example cases of the overlay figures (``style.
select_examples``) are drawn in their colours, so each overlay matches its dot.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from rlnet.biomarker import Biomarker
from rlnet.correlation import pearson_r
from rlnet.figures import style

LIMIT_Z = 1.96


def bland_altman_numbers(reference, prediction) -> dict:
    """n, bias, sd (ddof=1) and the limits of agreement of prediction - reference."""
    ref = np.asarray(reference, dtype=float)
    pred = np.asarray(prediction, dtype=float)
    diff = pred - ref
    n = len(diff)
    bias = float(diff.mean()) if n else float("nan")
    sd = float(diff.std(ddof=1)) if n > 1 else float("nan")
    return {
        "n": n,
        "bias": bias,
        "sd": sd,
        "sd_ddof": 1,
        "z": LIMIT_Z,
        "lower_limit": bias - LIMIT_Z * sd,
        "upper_limit": bias + LIMIT_Z * sd,
    }


def _examples(table: pd.DataFrame) -> list[int]:
    return style.example_rows(table)


def bland_altman(table: pd.DataFrame, biomarker: Biomarker, model: str, out: str | Path) -> dict:
    """Draw the Bland-Altman plot of one model's test predictions; return the JSON numbers."""
    ref = table["reference"].to_numpy(float)
    pred = table["prediction"].to_numpy(float)
    numbers = bland_altman_numbers(ref, pred)
    mean, diff = (ref + pred) / 2, pred - ref
    fig, ax = style.new_figure(3.6, 3.0)
    ax.scatter(mean, diff, s=12, c="0.35", alpha=0.7, linewidths=0, label="test case")
    for pos, colour in zip(_examples(table), style.CASE_COLOURS, strict=False):
        ax.scatter(mean[pos], diff[pos], s=30, c=colour, edgecolors="k", linewidths=0.5, zorder=3)
    if np.isfinite(numbers["bias"]):
        ax.axhline(numbers["bias"], color="C3", lw=1.2, label=f"bias {numbers['bias']:.3g}")
    if np.isfinite(numbers["sd"]):
        for key in ("lower_limit", "upper_limit"):
            ax.axhline(numbers[key], color="C3", lw=1, ls="--")
        ax.plot(
            [],
            [],
            color="C3",
            ls="--",
            label=f"bias ± {LIMIT_Z} SD [{numbers['lower_limit']:.3g}, "
            f"{numbers['upper_limit']:.3g}]",
        )
    ax.set_xlabel(biomarker.axis_label("mean of reference and predicted"))
    ax.set_ylabel(f"Predicted - reference ({biomarker.units})")
    ax.set_title(
        f"{biomarker.short}, {style.model_label(model)}: Bland-Altman (n = {numbers['n']})"
    )
    ax.legend(loc="best", frameon=False)
    fig.tight_layout()
    numbers = {
        "figure": "bland_altman",
        "problem": biomarker.problem,
        "model": model,
        **{k: style.finite(v) if isinstance(v, float) else v for k, v in numbers.items()},
    }
    style.save(fig, out, numbers)
    return numbers


def correlation_numbers(reference, prediction) -> dict:
    """n, Pearson's rho (NaN where undefined: :mod:`rlnet.correlation`) and the least-squares
    line (slope, intercept) of prediction on reference (NaN for fewer than 2 points or a
    constant reference)."""
    ref = np.asarray(reference, dtype=float)
    pred = np.asarray(prediction, dtype=float)
    n = len(ref)
    line = n > 1 and np.ptp(ref) > 0
    slope, intercept = np.polyfit(ref, pred, 1) if line else (float("nan"), float("nan"))
    rho = pearson_r(ref, pred)
    return {"n": n, "rho": rho, "slope": float(slope), "intercept": float(intercept)}


def correlation(table: pd.DataFrame, biomarker: Biomarker, model: str, out: str | Path) -> dict:
    """Draw the correlation plot of one model's test predictions; return the JSON numbers."""
    ref = table["reference"].to_numpy(float)
    pred = table["prediction"].to_numpy(float)
    numbers = correlation_numbers(ref, pred)
    examples = _examples(table)
    fig, ax = style.new_figure(3.4, 3.2)
    ax.scatter(ref, pred, s=12, c="0.35", alpha=0.7, linewidths=0)
    for pos, colour in zip(examples, style.CASE_COLOURS, strict=False):
        ax.scatter(ref[pos], pred[pos], s=30, c=colour, edgecolors="k", linewidths=0.5, zorder=3)
    both = np.concatenate([ref, pred]) if len(ref) else np.zeros(1)
    lo, hi = float(both.min()), float(both.max())
    line = np.array([lo, hi])
    ax.plot(line, line, color="0.5", lw=1, ls=":", label="identity")
    if np.isfinite(numbers["slope"]):
        rho = numbers["rho"]
        rho_text = f"{rho:.3f}" if np.isfinite(rho) else "undefined"
        ax.plot(
            line,
            numbers["slope"] * line + numbers["intercept"],
            color="C3",
            lw=1.2,
            label=f"fit, ρ = {rho_text}",
        )
    ax.set_xlabel(biomarker.axis_label("reference"))
    ax.set_ylabel(biomarker.axis_label("predicted"))
    ax.set_title(f"{biomarker.short}, {style.model_label(model)} (n = {numbers['n']})")
    ax.legend(loc="upper left", frameon=False)
    fig.tight_layout()
    numbers = {
        "figure": "correlation",
        "problem": biomarker.problem,
        "model": model,
        **{k: style.finite(v) if isinstance(v, float) else v for k, v in numbers.items()},
        "examples": [str(table["case_id"].iloc[p]) for p in examples],
        "example_colours": list(style.CASE_COLOURS[: len(examples)]),
    }
    style.save(fig, out, numbers)
    return numbers
