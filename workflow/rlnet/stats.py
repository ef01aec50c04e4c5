"""Statistical tests of the paper's Sec. II-G (Tables III and IV).

- Williams's t for two dependent correlations sharing the reference (regression, p_c).
- Kruskal-Wallis, then Dunn's test for all pairs (Dice and Hausdorff, p_d and p_dH).
- Stuart-Maxwell test of marginal homogeneity of two methods' risk groups (CAC, Table IV).
- Wilcoxon's signed-rank test of two methods' per-case (or per-subject) values, paired by case
  (Dice and Hausdorff: the models are scored on the same cases, which Dunn's test ignores).
- Multiple-comparison adjustment of a family of p-values (Holm by default), NaN-aware.
Definitions as in the paper's Sec. II-G; each test is checked against published values in
tests/test_stats.py.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scikit_posthocs as sp
from scipy import stats as sstats
from scipy.sparse.csgraph import connected_components
from statsmodels.stats.contingency_tables import SquareTable
from statsmodels.stats.multitest import multipletests

from rlnet.correlation import pearson_r
from rlnet.metrics import _finite_1d, _groups, _paired

#: Adjustments of a family of p-values (config ``evaluation.p_adjust``): statsmodels
#: ``multipletests`` method names, or ``none``.
P_ADJUST = ("holm", "bonferroni", "fdr_bh", "none")


def adjust_pvalues(p_values: Sequence[float], method: str = "holm") -> np.ndarray:
    """The family's p-values adjusted by ``method`` (statsmodels ``multipletests``: Holm 1979
    step-down, Bonferroni, Benjamini-Hochberg), in the given order.

    NaN entries (a test that could not be computed) stay NaN and are not counted in the
    family's size; ``none`` returns the p-values unchanged.
    """
    if method not in P_ADJUST:
        raise ValueError(f"unknown p-value adjustment {method!r}; known: {', '.join(P_ADJUST)}")
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p-values must be 1D, got shape {p.shape}")
    defined = np.isfinite(p)
    if np.any((p[defined] < 0) | (p[defined] > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p[defined].tolist()}")
    out = p.copy()
    if method != "none" and defined.any():
        out[defined] = multipletests(p[defined], method=method)[1]
    return out


def wilcoxon_paired(a: Sequence[float], b: Sequence[float]) -> tuple[float, int]:
    """(two-sided p, pairs used) of Wilcoxon's signed-rank test of a - b, paired by position.

    Pairs with an undefined value (NaN: e.g. a Hausdorff distance to an empty prediction) are
    left out. scipy ``wilcoxon`` (zero differences dropped, Wilcoxon's method; exact p for
    small samples without ties, the normal approximation otherwise). Every difference zero:
    p = 1 (no evidence of a difference); no pair left: NaN.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"wilcoxon_paired needs two 1D arrays of one length: {x.shape}, {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    n = int(keep.sum())
    if n == 0:
        return float("nan"), 0
    diff = x[keep] - y[keep]
    if not np.any(diff != 0):
        return 1.0, n
    return float(sstats.wilcoxon(diff).pvalue), n


def williams_test(r_jk: float, r_jh: float, r_kh: float, n: int) -> tuple[float, float]:
    """Williams's (1959) t for H0: rho_jk = rho_jh, with j shared; returns (t, two-sided p).

    t = (r_jk - r_jh) sqrt((n-1)(1+r_kh) / (2 (n-1)/(n-3) |R| + rbar^2 (1-r_kh)^3)),
    |R| = 1 - r_jk^2 - r_jh^2 - r_kh^2 + 2 r_jk r_jh r_kh, rbar = (r_jk + r_jh) / 2, df = n - 3
    (Steiger 1980, Psychol. Bull. 87:245, eq. 7; as psych::paired.r / r.test and cocor's
    "williams1959"). Here j is the reference, k and h the two methods.
    """
    if n <= 3:
        raise ValueError(f"williams_test needs n > 3 (df = n - 3), got n = {n}")
    for name, r in (("r_jk", r_jk), ("r_jh", r_jh), ("r_kh", r_kh)):
        if not -1.0 <= r <= 1.0:
            raise ValueError(f"{name} = {r} is not a correlation in [-1, 1]")
    det = 1 - r_jk**2 - r_jh**2 - r_kh**2 + 2 * r_jk * r_jh * r_kh
    rbar = (r_jk + r_jh) / 2
    denom = 2 * (n - 1) / (n - 3) * det + rbar**2 * (1 - r_kh) ** 3
    t = (r_jk - r_jh) * np.sqrt((n - 1) * (1 + r_kh) / denom)
    return float(t), float(2 * sstats.t.sf(abs(t), n - 3))


def williams_from_data(
    reference: Sequence[float], prediction_a: Sequence[float], prediction_b: Sequence[float]
) -> tuple[float, float]:
    """:func:`williams_test` of r(reference, a) vs r(reference, b) on the same subjects;
    (NaN, NaN) where an r is undefined (fewer than 3 subjects, a constant input:
    :mod:`rlnet.correlation`) or, with 3 subjects, the test has no degree of freedom."""
    ref, a = _paired("reference", reference, "prediction_a", prediction_a)
    _, b = _paired("reference", ref, "prediction_b", prediction_b)
    r_jk, r_jh, r_kh = pearson_r(ref, a), pearson_r(ref, b), pearson_r(a, b)
    if ref.size <= 3 or not np.isfinite([r_jk, r_jh, r_kh]).all():
        return float("nan"), float("nan")
    return williams_test(r_jk, r_jh, r_kh, ref.size)


def kruskal_dunn(
    groups: Mapping[str, Sequence[float]], p_adjust: str | None = "holm"
) -> tuple[float, float, pd.DataFrame]:
    """Kruskal-Wallis H test, then Dunn's (1964) test for all pairs.

    Returns (H, p, pairwise p DataFrame indexed and columned by group name, in the given
    order). ``p_adjust`` is passed to ``scikit_posthocs.posthoc_dunn`` (statsmodels
    ``multipletests`` names, default Holm; None for unadjusted p). Dunn uses the tie-corrected
    variance of the joint ranking (scikit-posthocs; as R's PMCMRplus::kwAllPairsDunnTest).
    """
    if len(groups) < 2:
        raise ValueError(f"kruskal_dunn needs at least 2 groups, got {list(groups)}")
    arrays = {str(name): _finite_1d(f"group {name!r}", vals) for name, vals in groups.items()}
    empty = [name for name, arr in arrays.items() if arr.size == 0]
    if empty:
        raise ValueError(f"empty group(s): {empty}")
    h, p = sstats.kruskal(*arrays.values())
    long = pd.DataFrame(
        {
            "value": np.concatenate(list(arrays.values())),
            "group": np.repeat(list(arrays), [arr.size for arr in arrays.values()]),
        }
    )
    pairwise = sp.posthoc_dunn(long, val_col="value", group_col="group", p_adjust=p_adjust)
    names = list(arrays)
    return float(h), float(p), pairwise.loc[names, names]


def stuart_maxwell(table: np.ndarray) -> tuple[float, int, float]:
    """Stuart-Maxwell test of marginal homogeneity of a K x K table; returns (chi2, df, p).

    Computed by statsmodels ``SquareTable(table, shift_zeros=False)
    .homogeneity(method="stuart_maxwell")`` (Stuart 1955; Maxwell 1970). Its covariance is
    singular when a category has no off-diagonal counts (e.g. a risk group absent from both
    methods, or one they always agree on); such a category has equal margins and contributes
    nothing, so it is dropped and df shrinks accordingly. More generally the table is split into
    the connected components of its off-diagonal (disagreement) pattern, which makes the
    covariance block diagonal; the statistic and df are the sums over the components. This equals
    d' S^+ d with df = rank(S). (DescTools/Uebersax drop such categories too but keep df = K - 1,
    which is more conservative.) No disagreement at all gives (0.0, 0, 1.0).
    """
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise ValueError(f"stuart_maxwell needs a square K x K table, got shape {t.shape}")
    _finite_1d("table", t.ravel())
    if np.any(t < 0):
        raise ValueError("table has negative counts")
    disagree = (t + t.T) > 0
    np.fill_diagonal(disagree, False)
    n_comp, label = connected_components(disagree, directed=False)
    chi2, df = 0.0, 0
    for comp in range(n_comp):
        idx = np.flatnonzero(label == comp)
        if idx.size < 2:
            continue
        res = SquareTable(t[np.ix_(idx, idx)], shift_zeros=False).homogeneity(
            method="stuart_maxwell"
        )
        chi2 += float(res.statistic)
        df += int(res.df)
    return chi2, df, float(sstats.chi2.sf(chi2, df)) if df else 1.0


def stuart_maxwell_from_groups(
    groups_a: Sequence[int], groups_b: Sequence[int], n_groups: int = 5
) -> tuple[float, int, float]:
    """:func:`stuart_maxwell` of the n_groups x n_groups table of a's group (row) vs b's."""
    a = _groups("groups_a", groups_a, n_groups)
    b = _groups("groups_b", groups_b, n_groups)
    if a.size != b.size:
        raise ValueError(f"length mismatch: groups_a has {a.size}, groups_b {b.size}")
    table = np.zeros((n_groups, n_groups))
    np.add.at(table, (a, b), 1.0)
    return stuart_maxwell(table)
