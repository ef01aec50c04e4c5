"""Split: grouped by subject, stratified, deterministic, clear errors."""

import numpy as np
import pandas as pd
import pytest

from rlnet.split import SplitError, allocate, make_split, report


def manifest(n_subjects=200, slices=1, seed=0, agatston=False):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        value = float(rng.lognormal(6, 1))
        for k in range(slices):
            rows.append(
                {
                    "case_id": f"s{s:03d}_{k}",
                    "subject_id": f"s{s:03d}",
                    "value": value * (1 + 0.1 * k),
                    "agatston": float(
                        rng.choice([0, 50, 200, 600, 2000], p=[0.41, 0.23, 0.21, 0.105, 0.045])
                    ),
                }
            )
    return pd.DataFrame(rows)


def test_allocate_largest_remainder():
    assert allocate(10, (0.6, 0.2, 0.2)) == (6, 2, 2)
    assert allocate(3, (0.8, 0.1, 0.1)) == (1, 1, 1)
    assert sum(allocate(17, (0.7, 0.1, 0.2))) == 17


def test_no_subject_in_two_splits_and_proportions():
    table = manifest(slices=4)
    split = make_split(table, (0.6, 0.2, 0.2), seed=1, n_strata=4)
    assert split.groupby("subject_id")["split"].nunique().max() == 1
    fractions = split.drop_duplicates("subject_id")["split"].value_counts(normalize=True)
    for name, expected in (("train", 0.6), ("val", 0.2), ("test", 0.2)):
        assert fractions[name] == pytest.approx(expected, abs=0.03)


def test_every_stratum_keeps_its_proportions():
    split = make_split(manifest(), (0.6, 0.2, 0.2), seed=3, n_strata=4)
    per = pd.crosstab(split["stratum"], split["split"], normalize="index")
    assert np.allclose(per["train"], 0.6, atol=0.05)


def test_cac_is_stratified_by_risk_group():
    table = manifest(agatston=True)
    split = make_split(table, (0.6, 0.2, 0.2), seed=3, by_risk=True)
    groups = split.merge(table, on="case_id")
    assert set(split["stratum"]) == {0, 1, 2, 3, 4}
    expected = np.searchsorted([10, 100, 400, 1000], groups["agatston"], side="right")
    np.testing.assert_array_equal(groups["stratum"], expected)
    counts = report(split)
    assert list(counts["split"]) == ["train", "val", "test"]
    assert counts["total"].sum() == len(table)


def test_cac_top_risk_groups_merge_into_the_last_stratum():
    table = manifest(agatston=True)
    split = make_split(table, (0.6, 0.2, 0.2), seed=3, n_strata=3, by_risk=True)
    groups = split.merge(table, on="case_id")
    assert set(split["stratum"]) == {0, 1, 2}
    assert (groups.loc[groups["agatston"] >= 100, "stratum"] == 2).all()


def test_deterministic_and_seed_dependent():
    table = manifest()
    a = make_split(table, (0.6, 0.2, 0.2), seed=5)
    b = make_split(table, (0.6, 0.2, 0.2), seed=5)
    c = make_split(table, (0.6, 0.2, 0.2), seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a["split"].equals(c["split"])


def test_too_small_stratum_is_named():
    # 8 subjects in 3 value bins: ranks 1-3, 4-6, 7-8 -> the last bin holds 2
    with pytest.raises(SplitError, match="stratum 2 holds 2 subject"):
        make_split(manifest(n_subjects=8), (0.6, 0.2, 0.2), seed=0, n_strata=3)
