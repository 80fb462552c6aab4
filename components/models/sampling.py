"""Training cost that stops growing with the customer count: stratified samples and a learning curve.

A model is fitted on a stratified sample (label x cold start, so both stay in proportion) whose
size is found by a learning curve on observable data: the selected model is fitted on samples of
doubling size and scored on the same held-out training customers; the curve stops where doubling
gains less than a set ROC AUC. Everyone is still scored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from churnguard.models.config import SampleConfig


def stratified_sample(strata: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of ``n`` rows (all when fewer), each stratum in proportion to its share."""
    if n >= len(strata):
        return np.arange(len(strata))
    values, inverse = np.unique(strata, return_inverse=True)
    picked = []
    for k in range(len(values)):
        rows = np.nonzero(inverse == k)[0]
        take = int(round(n * len(rows) / len(strata)))
        picked.append(rng.choice(rows, size=min(take, len(rows)), replace=False))
    return np.sort(np.concatenate(picked))


def curve_sizes(available: int, cfg: SampleConfig) -> list[int]:
    """``start_rows``, 2x, 4x ... up to ``max_rows`` and what is available (the last size may be all)."""
    sizes, size = [], cfg.start_rows
    while size < min(available, cfg.max_rows):
        sizes.append(size)
        size *= 2
    return [*sizes, min(available, cfg.max_rows)]


def learning_curve(
    fit_score: Callable[[np.ndarray], np.ndarray],
    fit_rows: np.ndarray,
    y: np.ndarray,
    validation: np.ndarray,
    strata: np.ndarray,
    cfg: SampleConfig,
    seed: int,
) -> tuple[int, list[dict[str, Any]]]:
    """(rows to train on, the curve). ``fit_score(rows)`` fits on ``rows`` and scores ``validation``.

    Sizes double from ``start_rows``; the curve stops at the first size whose gain over the previous
    one is below ``flat_auc`` (the curve has flattened) and that size is kept."""
    rng = np.random.default_rng(seed)
    curve: list[dict[str, Any]] = []
    for size in curve_sizes(len(fit_rows), cfg):
        rows = fit_rows[stratified_sample(strata[fit_rows], size, rng)]
        auc = float(roc_auc_score(y[validation], fit_score(rows)))
        curve.append({"rows": int(len(rows)), "validation_roc_auc": round(auc, 5)})
        if len(curve) > 1 and auc - curve[-2]["validation_roc_auc"] < cfg.flat_auc:
            break
    return curve[-1]["rows"], curve
