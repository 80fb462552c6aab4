"""Cross-fitting: out-of-fold uplift estimates for every customer, so the whole campaign checks the plan.

With ``fit_counterfactual.uplift.crossfit_folds: K`` the uplift model is fitted on the campaign of both
splits (about 25 % more data than the training split alone), and each customer also gets estimates
from models that never saw that customer's outcome: customers are split into K folds by a stable
hash of their id; fold ``f``'s control model and offer GLMs are refitted on the other folds (same
design as the full model; early stopping and ridge chosen on the fold's own rows). The sweep builds every candidate plan on these
out-of-fold estimates and values it off-policy on all established customers of the randomized
campaign (about 5x the holdout alone), and the evaluation stage compares those same plans with the
truth. The plan that ships uses the full model. Out-of-fold intervals reuse the full model's
replicate spread, widened by ``sqrt(K / (K - 1))`` for the smaller fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

FOLD_HASH_KEY = "churnguard-folds"  # 16 characters: pandas' hash key; independent of the sweep's shards


def fold_of(ids: pd.Series, folds: int) -> np.ndarray:
    """Stable fold of each customer id (independent of row order, process and the sweep's shards)."""
    h = pd.util.hash_pandas_object(ids.astype(str).reset_index(drop=True), index=False, hash_key=FOLD_HASH_KEY)
    return (h.to_numpy() % np.uint64(folds)).astype(np.int64)


@dataclass
class CrossFit:
    """Per fold: a control classifier on the full control model's encoding and each offer's coefficients."""

    folds: int
    controls: list[Any]
    coef: dict[str, np.ndarray]  # offer -> (folds, d)

    def widen(self) -> float:
        return float(np.sqrt(self.folds / (self.folds - 1)))
