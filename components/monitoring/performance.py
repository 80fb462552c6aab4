"""Performance of a deployed model: realised (labels matured), estimated before labels, early outcomes.

* ``expected_roc_auc``: confidence-based performance estimation (the idea of NannyML's CBPE). If the
  scores are calibrated, customer i is a churner with probability s_i, so the expected true- and
  false-positive counts above every threshold are cumulative sums of s and 1 − s over the customers
  sorted by score; the area under that expected ROC curve estimates the ROC AUC the labels will show.
  It needs calibration to hold on the current data: true under covariate shift (P(y | x) unchanged,
  model calibrated where the new data lies), false under concept shift (that is what it cannot see).
* ``early_outcome_test``: the label window is 60 days, but churn events of a scored cohort arrive
  every day. After one month, the churners of the cohort are observed; their expected number under the
  model is the sum of the monthly hazards h = 1 − sqrt(1 − s) (s: 60-day probability). Observed vs
  expected per segment (z-test of a sum of Bernoullis), Benjamini–Hochberg over segments, alarm only
  with an observed/expected ratio of at least ``min_ratio`` too. This is what sees a concept shift 30
  days after it starts instead of 60. ``direction="more"`` (the default) tests only for more churners
  than expected: the costly miss, and fewer churners than expected is also what the constant-hazard
  conversion's own bias for loyal segments looks like in a stable world; ``"both"`` tests both ways
  (then also a ratio at most 1/min_ratio alarms).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score


def expected_roc_auc(scores: np.ndarray) -> float:
    """CBPE estimate of ROC AUC from calibrated probabilities alone (ties: trapezoid)."""
    s = np.clip(np.asarray(scores, float), 0.0, 1.0)
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    tp, fp = np.cumsum(s_sorted), np.cumsum(1.0 - s_sorted)
    # one point per distinct score (ties move together)
    last = np.append(np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1)
    tpr = np.concatenate([[0.0], tp[last] / tp[-1]])
    fpr = np.concatenate([[0.0], fp[last] / fp[-1]])
    return float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))


def recalibrated_expected_roc_auc(scores: np.ndarray, ref_scores: np.ndarray, ref_labels: np.ndarray) -> float:
    """CBPE on scores recalibrated (isotonic regression) on a labelled cohort, e.g. the newest matured
    one; NannyML's CBPE calibrates on its labelled reference period the same way."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(ref_scores, np.asarray(ref_labels, float))
    return expected_roc_auc(iso.predict(np.asarray(scores, float)))


def realised_roc_auc(y: np.ndarray, scores: np.ndarray) -> float | None:
    y = np.asarray(y)
    return float(roc_auc_score(y, scores)) if 0 < y.sum() < y.size else None


def monthly_hazard(scores: np.ndarray, window_months: int = 2) -> np.ndarray:
    """Probability of churning within one month from a ``window_months``-month probability."""
    return 1.0 - np.power(np.clip(1.0 - np.asarray(scores, float), 0.0, 1.0), 1.0 / window_months)


@dataclass
class SegmentOutcome:
    segment: str
    n: int
    observed: int
    expected: float
    ratio: float
    p_value: float
    p_adjusted: float
    alarmed: bool


def early_outcome_test(
    scores: np.ndarray,
    churned: np.ndarray,
    segments: pd.DataFrame,
    alpha: float,
    min_ratio: float,
    min_expected: float,
    direction: Literal["more", "both"] = "more",
) -> list[SegmentOutcome]:
    """Observed first-month churners vs the model's expectation, overall and per segment value."""
    h = monthly_hazard(scores)
    churned = np.asarray(churned, bool)
    masks = {"all": np.ones(h.size, bool)}
    for col in segments.columns:
        values = segments[col].astype(str).to_numpy()
        for value in sorted(set(values)):
            masks[f"{col}={value}"] = values == value
    rows = []
    for name, m in masks.items():
        expected, observed = float(h[m].sum()), int(churned[m].sum())
        if expected < min_expected:
            continue
        sd = float(np.sqrt(np.sum(h[m] * (1 - h[m]))))
        p = _p_value(observed, expected, sd, direction)
        rows.append((name, int(m.sum()), observed, expected, observed / expected, p))
    if not rows:
        return []
    adjusted = stats.false_discovery_control(np.array([r[5] for r in rows]), method="bh")
    return [
        SegmentOutcome(
            name,
            n,
            o,
            round(e, 2),
            round(r, 4),
            p,
            float(pa),
            bool(pa < alpha and (r >= min_ratio or (direction == "both" and r <= 1.0 / min_ratio))),
        )
        for (name, n, o, e, r, p), pa in zip(rows, adjusted)
    ]


def _p_value(observed: int, expected: float, sd: float, direction: Literal["more", "both"]) -> float:
    """Normal-approximation p-value of ``observed`` churners against ``expected`` (sd of the sum)."""
    if sd <= 0:
        return 1.0
    z = (observed - expected) / sd
    return float(stats.norm.sf(z)) if direction == "more" else float(2 * stats.norm.sf(abs(z)))


def as_records(results: list[Any]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
