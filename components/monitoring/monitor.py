"""One monitoring cycle on frames: drift, estimate, early outcomes, realised AUC, decision."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import SPLIT
from churnguard.monitoring import decision, drift, performance
from churnguard.monitoring.config import EarlyOutcomesConfig, MonitorConfig


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
    cfg: MonitorConfig,
    reference_auc: float | None,
    month: int | None = None,
) -> decision.MonitorResult:
    """``reference``: the champion's training rows; ``current``: tonight's snapshot; ``previous``: the
    snapshot one month back (its first-month churners are known); ``matured``: the newest snapshot whose
    labels matured. Any of the last two may be None early in a model's life."""
    dcfg = cfg.drift
    features = drift.feature_drift(reference.features, current.features, numeric, categorical, dcfg.alpha, dcfg.min_psi)
    prediction = drift.prediction_drift(reference.scores, current.scores, dcfg.alpha, dcfg.prediction_min_psi)
    result = decision.MonitorResult(
        month=month,
        features=features,
        prediction=prediction,
        estimated_auc=performance.expected_roc_auc(current.scores),
        reference_auc=reference_auc,
        estimator=cfg.estimator,
    )
    if previous is not None and previous.churned_first_month is not None:
        result.early_outcomes = early_outcomes(previous, cfg.early_outcomes)
    matured = unseen(matured)
    if matured is not None and matured.labels is not None:
        result.realised_auc = performance.realised_roc_auc(matured.labels, matured.scores)
        result.realised_estimate = performance.expected_roc_auc(matured.scores)
        if result.realised_auc is not None:
            result.estimated_auc_offset = result.estimated_auc + result.realised_auc - result.realised_estimate
            result.estimated_auc_recalibrated = performance.recalibrated_expected_roc_auc(
                current.scores, matured.scores, matured.labels
            )
    return decision.decide(result, cfg)


def unseen(cohort: Cohort | None) -> Cohort | None:
    """The cohort's holdout rows when it has a split column: a champion is fitted on the train split
    only and the split hashes the customer id, so holdout customers were never trained on; train-split
    rows of the champion's own snapshot would score in-sample (measured: ROC AUC 0.84 vs 0.79)."""
    if cohort is None or SPLIT not in cohort.features:
        return cohort
    keep = (cohort.features[SPLIT] == "holdout").to_numpy()
    return Cohort(
        cohort.features[keep],
        cohort.scores[keep],
        None if cohort.churned_first_month is None else cohort.churned_first_month[keep],
        None if cohort.labels is None else cohort.labels[keep],
    )


def early_outcomes(previous: Cohort, cfg: EarlyOutcomesConfig) -> list[performance.SegmentOutcome]:
    """The early-outcome test of last month's cohort, overall, per segment and per quartile band."""
    assert previous.churned_first_month is not None
    rows = previous.features
    segments = rows[[c for c in cfg.segments if c in rows]]
    segments = segments.assign(**{f"{c}_band": _bands(rows[c]) for c in cfg.numeric_segments if c in rows})
    return performance.early_outcome_test(
        previous.scores,
        previous.churned_first_month,
        segments,
        cfg.alpha,
        cfg.min_ratio,
        cfg.min_expected,
        cfg.direction,
    )


def _bands(values: pd.Series) -> pd.Series:
    """Quartile bands of a numeric column (segments for the early-outcome test)."""
    v = pd.to_numeric(values, errors="coerce")
    return pd.qcut(v, 4, labels=["q1", "q2", "q3", "q4"], duplicates="drop").astype(str)
