"""Baselines without learning, written like a model's predictions so that metrics, tables and
figures treat them as models (Table II rows; ``python -m rlnet baseline``).

``candidates``  the candidate measure (candidate voxel count x voxel size: mm^2, or mm^3 in 3D)
                calibrated on the training split by least squares, value ~ a * measure + b;
                its mask is every candidate.
``rule``        the best fixed rule without learning; which one is the problem's config key
                ``problems.<name>.baselines.rule``:

    region      the candidates inside a fixed region: the frequency map of the training cases'
                reference masks thresholded at the level whose training-set candidate area
                correlates best (Pearson r) with the value, the area calibrated on training.
    agatston    the Agatston score of every voxel >= 130 HU in the ROI (the settings predict
                uses); no calibration, risk groups from it.
    threshold   the candidates whose Gaussian-smoothed HU lies below (or above) a threshold,
                direction and threshold chosen on training by Pearson r; area calibrated.

``heart-rule``  (Agatston problems) calcium inside the heart: the lesions the Agatston score
                counts (>= 130 HU, in-plane lesions of >= ``min_lesion_mm2``, the
                ``evaluation.agatston`` settings) inside the case's heart region grown by a
                margin, the margin (0-10 mm) minimising the training mean absolute error of the
                Agatston score. The heart region is the prepared heart.npy (the phantom's
                pericardium, or a user's heart_mask / heart_region); a case without one uses its
                whole heart ROI (the margin is then fitted on the cases that have one).
``skin-rule``   (2D problems with HU candidates, no candidate mask) the candidates within a
                distance of the skin: the body (voxels > BODY_HU, holes filled, largest
                component) and each pixel's Euclidean depth under its surface (mm); the
                distance, on a grid of one pixel step, minimising the training squared error of
                the candidate area within it. Not calibrated: the mask's area is the prediction.

Maximising the training r is minimising the calibrated fit's training squared error
(1 - r^2 of the value's variance). Calibrated values are clipped at 0 (no negative area).
Everything is computed in the network window (``Prepared.region``: the slice in 2D, the ROI in
3D), where the metrics stage compares masks. Where the cases carry a reference Agatston score
(cac), the table has predict's Agatston columns: the candidates baseline calibrates the score
on the candidate measure as well; a rule with a mask scores its mask, as the RL models do.

The baselines are computed in :mod:`rlnet.baseline_measures` (``candidates``, ``region``,
``threshold``, ``skin-rule``) and :mod:`rlnet.baseline_agatston` (``agatston``, ``heart-rule``),
from the pieces of :mod:`rlnet.baseline_fit`; this module picks one and writes its outputs.

Outputs (one folder, as predict writes for a model): predictions.tsv, localization.npy
(uint8, (N_test, *window)), localizations.npz (the same masks under every localization rule:
a baseline's mask is already binary) and run.json (the identity the metrics stage reads).
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from rlnet import atomic, biomarkers, localization, tsv
from rlnet.baseline_agatston import agatston_rule, heart_rule
from rlnet.baseline_fit import Baseline, BaselineError, reports_agatston, window
from rlnet.baseline_measures import candidates_baseline, region_rule, skin_rule, threshold_rule
from rlnet.model_registry import BASELINES
from rlnet.prepare import Prepared

#: ``family`` of a baseline's run.json (models: rl, enc, seg).
FAMILY = "baseline-rule"
#: The fixed rules of the ``rule`` baseline (config ``problems.<name>.baselines.rule``).
RULES = ("region", "agatston", "threshold")


def compute(
    prepared: Prepared,
    problem: str,
    baseline: str,
    rule: str | None = None,
    agatston_kw: dict | None = None,
) -> Baseline:
    """The named baseline of one prepared problem (``rule``: the problem's configured rule)."""
    if baseline not in BASELINES:
        raise BaselineError(f"unknown baseline {baseline!r}; known: {', '.join(BASELINES)}")
    if baseline == "candidates":
        return candidates_baseline(prepared, problem)
    if baseline == "heart-rule":
        return heart_rule(prepared, problem, agatston_kw or {})
    if baseline == "skin-rule":
        return skin_rule(prepared, problem)
    if rule not in RULES:
        raise BaselineError(
            f"problem {problem}: baseline 'rule' needs config key problems.{problem}.baselines."
            f"rule, one of {', '.join(RULES)} (got {rule!r})"
        )
    if rule == "region":
        return region_rule(prepared, problem)
    if rule == "agatston":
        return agatston_rule(prepared, problem, agatston_kw or {})
    return threshold_rule(prepared, problem)


# --- outputs -----------------------------------------------------------------------------------


def predictions_table(
    prepared: Prepared, result: Baseline, agatston_kw: dict, risk_scheme: str
) -> pd.DataFrame:
    """predictions.tsv with predict's columns: case_id, subject_id, index, reference,
    prediction, (with reference Agatston scores: reference/predicted volume, Agatston and risk
    group), has_mask, map (empty: a baseline writes no NIfTI maps)."""
    test = prepared.indices("test")
    cases = prepared.cases.loc[test]
    table = cases[["case_id", "subject_id", "index"]].reset_index(drop=True)
    reference = cases["value"].astype(float).to_numpy()
    if reports_agatston(prepared):
        scores = result.agatston
        if scores is None:  # a rule's mask scored as predict scores an RL model's
            scores = np.asarray(
                [
                    biomarkers.agatston(
                        window(prepared, prepared.images, i),
                        result.masks[k],
                        prepared.spacing(i),
                        **agatston_kw,
                    )
                    for k, i in enumerate(test)
                ]
            )
        reference_agatston = cases["agatston"].astype(float).to_numpy()
        table["reference"] = reference_agatston
        table["prediction"] = scores
        table["reference_volume"] = reference
        table["predicted_volume"] = result.values
        table["reference_agatston"] = reference_agatston
        table["predicted_agatston"] = scores
        table["reference_group"] = biomarkers.risk_group(reference_agatston, risk_scheme)
        table["predicted_group"] = biomarkers.risk_group(np.asarray(scores), risk_scheme)
    else:
        table["reference"] = reference
        table["prediction"] = result.values
    table["has_mask"] = cases["has_mask"].to_numpy()
    table["map"] = ""
    return table


def fingerprint(problem: str, baseline: str, settings: dict) -> str:
    """Hash of what defines a baseline run (as a model run's fingerprint)."""
    body = json.dumps([problem, baseline, settings], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def run_baseline(
    prepared_dir: str | Path,
    problem: str,
    baseline: str,
    out_dir: str | Path,
    *,
    rule: str | None = None,
    agatston_kw: dict | None = None,
    risk_scheme: str = "paper",
) -> pd.DataFrame:
    """Compute one baseline on the test split; write predictions.tsv, localization.npy and
    run.json into ``out_dir`` (each atomically, after everything is computed)."""
    agatston_kw = agatston_kw or {}
    prepared = Prepared.load(prepared_dir)
    result = compute(prepared, problem, baseline, rule, agatston_kw)
    table = predictions_table(prepared, result, agatston_kw, risk_scheme)
    settings = {"rule": rule if baseline == "rule" else None, "agatston": agatston_kw}
    settings["risk_scheme"] = risk_scheme
    run = {
        "problem": problem,
        "model": baseline,
        "n": None,
        "rep": 0,
        "n_train": result.n_train,
        "fingerprint": fingerprint(problem, baseline, settings),
        "family": FAMILY,
        "target": result.target,
        "settings": settings,
        "fit": result.fit,
    }
    out_dir = Path(out_dir)
    atomic.save_npy(out_dir / "localization.npy", result.masks)
    localization.save_all(
        out_dir / "localizations.npz", {r: result.masks for r in localization.RULES}
    )
    tsv.write_table(out_dir / "predictions.tsv", table)
    atomic.write_json(out_dir / "run.json", run)
    return table
