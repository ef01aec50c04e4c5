"""The supplementary tables: an RL and a segmentation model per slice and per subject (the
paper's liver comparison; its tests are Table III's, :mod:`rlnet.pairwise`) and the sample-size
summary (Fig. 13)."""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rlnet import correlation, metrics
from rlnet.model_registry import in_table_order


def comparison(cases: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per slice and per case (subject): n, rho and mean Dice of each model (the paper's liver
    comparison of RL and segmentation). Descriptive: the tests, on subjects, are Table III's.

    The per-case Dice pools a subject's slices, from the per-slice intersection and sizes
    (``inter``, ``n_pred``, ``n_ref``): 2 sum(inter) / (sum(n_pred) + sum(n_ref)).
    """
    rows = []
    for m in in_table_order(list(cases)):
        t = cases[m]
        subject = t.groupby("subject_id")[["reference", "prediction"]].sum()
        sizes = t.groupby("subject_id")[["inter", "n_pred", "n_ref"]].sum()
        dice_case = [metrics.pooled_dice(s.inter, s.n_pred, s.n_ref) for s in sizes.itertuples()]
        for level, ref, pred, dice in (
            ("slice", t["reference"], t["prediction"], t["dice"].to_numpy(float)),
            ("case", subject["reference"], subject["prediction"], np.asarray(dice_case, float)),
        ):
            rows.append(
                {
                    "level": level,
                    "model": m,
                    "n": len(ref),
                    "rho": correlation.pearson_r(ref, pred),
                    "dice": float(np.nanmean(dice)),
                }
            )
    return pd.DataFrame(rows)


def sample_size_summary(records: Sequence[dict]) -> pd.DataFrame:
    """Per problem x training size: mean, min, max, sd over repeats of rho (and Dice)."""
    rows = []
    for record in records:
        for metric in ("rho", "dice"):
            if metric in record["metrics"]:
                rows.append(
                    {
                        "problem": record["problem"],
                        "n": record["n_train"],
                        "metric": metric,
                        "value": record["metrics"][metric]["value"],
                    }
                )
    long = pd.DataFrame(rows)
    summary = long.groupby(["problem", "metric", "n"])["value"].agg(
        mean="mean", min="min", max="max", sd="std", repeats="count"
    )
    return summary.reset_index()
