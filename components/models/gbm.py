"""The project's one builder of a gradient-boosting pipeline (base model, cold-start GBM, uplift control).

Categorical columns are ordinal-encoded (unknown and missing values become NaN, which the trees
route by their learnt missing side) and declared categorical to the estimator; numeric columns
pass through. :class:`churnguard.models.fast_trees.FastHGB` scores every pipeline built here exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from churnguard.core.config import ConfigError, build


@dataclass(frozen=True)
class GBMParams:
    """Settings of one gradient-boosting model (a params sub-section; unknown keys are rejected)."""

    max_iter: int
    learning_rate: float
    max_leaf_nodes: int
    l2_regularization: float = 1.0
    min_samples_leaf: int = 20
    validation_fraction: float = 0.1  # held out for early stopping


def gbm_params(params: object, where: str = "gbm") -> GBMParams:
    """``params`` as :class:`GBMParams` (a params mapping is checked, ``where`` names it in errors)."""
    if isinstance(params, GBMParams):
        return params
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: expected a mapping of gradient-boosting settings, got {type(params).__name__}")
    return build(GBMParams, params, where)


def gbm_pipeline(
    categorical: Sequence[str],
    numeric: Sequence[str],
    params: GBMParams | Mapping[str, Any],
    seed: int,
    iterations: int | None = None,
) -> Pipeline:
    """An unfitted ordinal-encoder + ``HistGradientBoostingClassifier`` pipeline.

    Early stopping on a ``validation_fraction`` share of the rows, up to ``max_iter`` rounds; with
    ``iterations`` exactly that many rounds and no early stopping (a refit whose size is known,
    e.g. on a bootstrap resample, where duplicated rows would never stop it)."""
    p = gbm_params(params)
    pre = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan),
                list(categorical),
            ),
            ("num", "passthrough", list(numeric)),
        ]
    )
    clf = HistGradientBoostingClassifier(
        max_iter=p.max_iter if iterations is None else int(iterations),
        learning_rate=p.learning_rate,
        max_leaf_nodes=p.max_leaf_nodes,
        l2_regularization=p.l2_regularization,
        min_samples_leaf=p.min_samples_leaf,
        early_stopping=iterations is None,
        validation_fraction=p.validation_fraction,
        categorical_features=list(range(len(categorical))),
        random_state=seed,
    )
    return Pipeline([("pre", pre), ("clf", clf)])
