"""One monitoring cycle on frames: drift, estimate, early outcomes, realised AUC, decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churnguard.monitoring import decision, drift, performance


@dataclass
class Cohort:
    """A scored snapshot: its feature rows, the model's 60-day churn probabilities, and what is known
    of its outcomes so far (``churned_first_month`` one month later, ``labels`` once matured)."""

    features: pd.DataFrame
    scores: np.ndarray
    churned_first_month: np.ndarray | None = None
    labels: np.ndarray | None = None


def run_cycle(
    reference: Cohort,
    current: Cohort,
    previous: Cohort | None,
    matured: Cohort | None,
    numeric: list[str],
    categorical: list[str],
    cfg: dict[str, Any],
    reference_auc: float | None,
    month: int | None = None,
) -> decision.MonitorResult:
    """``reference``: the champion's training rows; ``current``: tonight's snapshot; ``previous``: the
    snapshot one month back (its first-month churners are known); ``matured``: the newest snapshot whose
    labels matured. Any of the last two may be None early in a model's life."""
    dcfg = cfg["drift"]
    features = drift.feature_drift(
        reference.features, current.features, numeric, categorical, float(dcfg["alpha"]), float(dcfg["min_psi"])
    )
    prediction = drift.prediction_drift(
        reference.scores, current.scores, float(dcfg["alpha"]), float(dcfg["prediction_min_psi"])
    )
    result = decision.MonitorResult(
        month=month,
        features=features,
        prediction=prediction,
        estimated_auc=performance.expected_roc_auc(current.scores),
        reference_auc=reference_auc,
    )
    if previous is not None and previous.churned_first_month is not None:
        ecfg = cfg["early_outcomes"]
        segments = previous.features[[c for c in ecfg["segments"] if c in previous.features]]
        segments = segments.assign(
            **{f"{c}_band": _bands(previous.features[c]) for c in ecfg["numeric_segments"] if c in previous.features}
        )
        result.early_outcomes = performance.early_outcome_test(
            previous.scores,
            previous.churned_first_month,
            segments,
            float(ecfg["alpha"]),
            float(ecfg["min_ratio"]),
            float(ecfg["min_expected"]),
        )
    if matured is not None and matured.labels is not None:
        result.realised_auc = performance.realised_roc_auc(matured.labels, matured.scores)
        result.realised_estimate = performance.expected_roc_auc(matured.scores)
    return decision.decide(result, cfg)


def _bands(values: pd.Series) -> pd.Series:
    """Quartile bands of a numeric column (segments for the early-outcome test)."""
    v = pd.to_numeric(values, errors="coerce")
    return pd.qcut(v, 4, labels=["q1", "q2", "q3", "q4"], duplicates="drop").astype(str)
