"""Train/validation/test split, stratified and grouped by subject.

Strata: the risk groups of the reference Agatston score for an Agatston biomarker; quantile
bins of the biomarker value otherwise. Every subject's cases land in one split.
"""

import numpy as np
import pandas as pd

from rlnet.biomarkers import PAPER_RISK_EDGES, risk_group

SPLITS = ("train", "val", "test")
#: Subjects every split needs (a validation loss, a test set with a spread, training pairs).
MIN_SUBJECTS = 2
#: Test cases the metrics need: Pearson's r and ICC are undefined (or exact) below three pairs.
MIN_TEST_CASES = 3


#: Strata of a split whose config gives no ``strata``: quantile bins of the value.
VALUE_STRATA = 4
#: Agatston risk groups (every group its own stratum).
RISK_STRATA = len(PAPER_RISK_EDGES) + 1


class SplitError(ValueError):
    """A split that cannot be made as configured; the message names the stratum."""


def default_strata(by_risk: bool) -> int:
    """Strata when the config gives none: every risk group, or ``VALUE_STRATA`` bins."""
    return RISK_STRATA if by_risk else VALUE_STRATA


def subject_strata(manifest: pd.DataFrame, n_strata: int, by_risk: bool, scheme: str) -> pd.Series:
    """Stratum of each subject (index: subject_id).

    ``by_risk``: risk group of the subject's highest Agatston score, the top groups merged so
    that at most ``n_strata`` strata remain (5 keeps every group); otherwise the quantile bin
    (``n_strata`` bins) of the subject's mean value.
    """
    if by_risk:
        scores = pd.to_numeric(manifest["agatston"], errors="coerce")
        if scores.isna().any():
            bad = manifest.loc[scores.isna(), "case_id"].tolist()[:5]
            raise SplitError(f"cases {bad} have no reference Agatston score to stratify by")
        per_subject = scores.groupby(manifest["subject_id"]).max()
        groups = np.minimum(risk_group(per_subject.to_numpy(), scheme), n_strata - 1)
        return pd.Series(groups, index=per_subject.index)
    per_subject = manifest["value"].astype(float).groupby(manifest["subject_id"]).mean()
    if n_strata == 1:
        return pd.Series(0, index=per_subject.index)
    ranks = per_subject.rank(method="first").to_numpy()
    bins = np.minimum((ranks - 1) * n_strata // len(ranks), n_strata - 1).astype(int)
    return pd.Series(bins, index=per_subject.index)


def allocate(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Split ``n`` items into three counts by largest remainder, each >= 1 (n >= 3)."""
    exact = np.asarray(fractions) * n
    counts = np.maximum(np.floor(exact).astype(int), 1)
    while counts.sum() > n:
        surplus = np.where(counts > 1, counts - exact, -np.inf)
        counts[np.argmax(surplus)] -= 1
    while counts.sum() < n:
        counts[np.argmax(exact - counts)] += 1
    return int(counts[0]), int(counts[1]), int(counts[2])


def make_split(
    manifest: pd.DataFrame,
    fractions: tuple[float, float, float],
    seed: int,
    n_strata: int = 5,
    by_risk: bool = False,
    scheme: str = "paper",
) -> pd.DataFrame:
    """Assign every case to train/val/test; columns case_id, subject_id, split, stratum.

    Raises SplitError saying how many subjects or cases there are and how many are needed
    when a stratum or a split would be too small.
    """
    n_subjects = manifest["subject_id"].nunique()
    if n_subjects < MIN_SUBJECTS * len(SPLITS):
        raise SplitError(
            f"{n_subjects} subject(s) ({len(manifest)} cases): a split needs at least "
            f"{MIN_SUBJECTS * len(SPLITS)} subjects ({MIN_SUBJECTS} in each of "
            f"{', '.join(SPLITS)}); add subjects"
        )
    strata = subject_strata(manifest, n_strata, by_risk, scheme)
    rng = np.random.default_rng([seed, 7])
    assignment: dict[str, str] = {}
    for stratum in sorted(strata.unique()):
        subjects = np.sort(strata.index[strata == stratum].to_numpy())
        if len(subjects) < len(SPLITS):
            raise SplitError(
                f"stratum {stratum} holds {len(subjects)} subject(s); at least {len(SPLITS)} are "
                f"needed to put one in each split (lower 'split.strata' or add cases)"
            )
        subjects = rng.permutation(subjects)
        n_train, n_val, _ = allocate(len(subjects), fractions)
        for k, subject in enumerate(subjects):
            assignment[subject] = (
                "train" if k < n_train else "val" if k < n_train + n_val else "test"
            )
    out = manifest[["case_id", "subject_id"]].copy()
    out["split"] = out["subject_id"].map(assignment)
    out["stratum"] = out["subject_id"].map(strata).astype(int)
    check_sizes(out)
    return out


def check_sizes(split: pd.DataFrame) -> None:
    """Raise SplitError unless every split has MIN_SUBJECTS subjects and the test split
    MIN_TEST_CASES cases (``split``: columns case_id, subject_id, split)."""
    subjects = split.groupby("split")["subject_id"].nunique().reindex(SPLITS, fill_value=0)
    short = {name: int(n) for name, n in subjects.items() if n < MIN_SUBJECTS}
    if short:
        counts = ", ".join(f"{name} {n}" for name, n in short.items())
        raise SplitError(
            f"of {split['subject_id'].nunique()} subjects the split gives {counts}; every split "
            f"needs at least {MIN_SUBJECTS} subjects (add subjects, raise the small fractions "
            f"or lower 'split.strata')"
        )
    n_test = int((split["split"] == "test").sum())
    if n_test < MIN_TEST_CASES:
        raise SplitError(
            f"the test split gets {n_test} case(s) of {len(split)}; the metrics (Pearson, ICC) "
            f"need at least {MIN_TEST_CASES} (add cases or raise 'split.test')"
        )


def report(split: pd.DataFrame) -> pd.DataFrame:
    """Cases per split x stratum with totals (the paper's Table I layout)."""
    table = pd.crosstab(split["split"], split["stratum"]).reindex(list(SPLITS), fill_value=0)
    table.columns = [f"stratum_{c}" for c in table.columns]
    table["total"] = table.sum(axis=1)
    return table.reset_index()
