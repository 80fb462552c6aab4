"""Per-feature data drift and prediction drift against a reference (the champion's training rows).

Each feature gets a two-sample test (numeric: Kolmogorov–Smirnov; categorical: chi-square on the
category counts, categories unseen in the reference included) and an effect size, the population
stability index (PSI; numeric values binned on reference deciles, missing values a bin of their own).
A feature is *alarmed* only when both hold: its Benjamini–Hochberg adjusted p-value (over all features
tested together, so 40 features at level alpha do not cry wolf) is below ``alpha`` **and** its PSI is at
least ``min_psi``. The second condition matters at monitoring sizes: with 10^4 rows a test finds
differences nobody should act on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

EPS = 1e-4


@dataclass
class FeatureDrift:
    feature: str
    kind: str  # numeric | categorical | prediction
    statistic: float
    p_value: float
    p_adjusted: float
    psi: float
    alarmed: bool


def psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    r, c = np.clip(ref_share, EPS, None), np.clip(cur_share, EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def _numeric(ref: pd.Series, cur: pd.Series) -> tuple[float, float, float]:
    r = pd.to_numeric(ref, errors="coerce").to_numpy(float)
    c = pd.to_numeric(cur, errors="coerce").to_numpy(float)
    rf, cf = r[np.isfinite(r)], c[np.isfinite(c)]
    if rf.size == 0 or cf.size == 0:
        return 0.0, 1.0, 0.0
    ks = stats.ks_2samp(rf, cf)
    edges = np.unique(np.quantile(rf, np.linspace(0, 1, 11)[1:-1]))
    ref_bins = np.append(
        np.bincount(np.searchsorted(edges, rf, side="right"), minlength=edges.size + 1), (~np.isfinite(r)).sum()
    )
    cur_bins = np.append(
        np.bincount(np.searchsorted(edges, cf, side="right"), minlength=edges.size + 1), (~np.isfinite(c)).sum()
    )
    return float(ks.statistic), float(ks.pvalue), psi(ref_bins / r.size, cur_bins / c.size)


def _categorical(ref: pd.Series, cur: pd.Series) -> tuple[float, float, float]:
    r, c = ref.astype(str).value_counts(), cur.astype(str).value_counts()
    cats = sorted(set(r.index) | set(c.index))
    table = np.array([r.reindex(cats, fill_value=0).to_numpy(), c.reindex(cats, fill_value=0).to_numpy()])
    if len(cats) < 2:
        return 0.0, 1.0, 0.0
    chi2, p, _dof, _exp = stats.chi2_contingency(table)
    return float(chi2), float(p), psi(table[0] / table[0].sum(), table[1] / table[1].sum())


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    alpha: float,
    min_psi: float,
) -> list[FeatureDrift]:
    """One result per feature present in both frames, BH-adjusted over all of them."""
    rows = []
    for kind, cols, test in (("numeric", numeric, _numeric), ("categorical", categorical, _categorical)):
        for col in cols:
            if col in reference and col in current:
                rows.append((col, kind, *test(reference[col], current[col])))
    return _adjust(rows, alpha, min_psi)


def prediction_drift(
    reference_scores: np.ndarray, current_scores: np.ndarray, alpha: float, min_psi: float
) -> FeatureDrift:
    stat, p, index = _numeric(pd.Series(reference_scores), pd.Series(current_scores))
    return FeatureDrift("churn_probability", "prediction", stat, p, p, index, bool(p < alpha and index >= min_psi))


def _adjust(rows: list[tuple], alpha: float, min_psi: float) -> list[FeatureDrift]:
    if not rows:
        return []
    p = np.array([r[3] for r in rows])
    adjusted = stats.false_discovery_control(np.clip(p, 0, 1), method="bh")
    return [
        FeatureDrift(name, kind, stat, pv, float(pa), index, bool(pa < alpha and index >= min_psi))
        for (name, kind, stat, pv, index), pa in zip(rows, adjusted)
    ]


def as_records(results: list[FeatureDrift]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
