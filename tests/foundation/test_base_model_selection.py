"""Base-model selection: the grid is cross-validated, samples keep their strata, the learning curve
stops where it flattens, and a large table is fitted on a sample (pure logic, small data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnguard.core.config import ConfigError
from churnguard.features.table import FeatureSchema
from churnguard.models.config import SampleConfig, TrainBaseConfig, typed
from churnguard.models.sampling import curve_sizes, learning_curve, stratified_sample
from churnguard.models.tabular import select_and_fit

GBM = {"max_iter": 30, "learning_rate": 0.1, "max_leaf_nodes": 7}


def test_stratified_sample_keeps_each_stratum_in_proportion():
    strata = np.repeat([0, 1, 2, 3], [6000, 2000, 1500, 500])
    picked = stratified_sample(strata, 1000, np.random.default_rng(0))
    assert len(picked) == 1000 and len(np.unique(picked)) == 1000 and (np.diff(picked) > 0).all()
    np.testing.assert_array_equal(np.bincount(strata[picked]), [600, 200, 150, 50])
    np.testing.assert_array_equal(stratified_sample(strata, 10**6, np.random.default_rng(0)), np.arange(10000))


def test_curve_doubles_and_stops_where_gain_is_flat():
    cfg = SampleConfig(start_rows=100, max_rows=1000, flat_auc=0.01)
    assert curve_sizes(5000, cfg) == [100, 200, 400, 800, 1000]
    assert curve_sizes(300, cfg) == [100, 200, 300]
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 3000)
    validation = np.arange(2000, 3000)
    noise = {100: 2.0, 200: 1.0, 400: 0.9}  # AUC rises, then flattens from 200 to 400

    def fit_score(rows: np.ndarray) -> np.ndarray:
        return y[validation] + rng.normal(0, noise.get(len(rows), 0.5), len(validation))

    rows, curve = learning_curve(fit_score, np.arange(2000), y, validation, y, cfg, 0)
    assert [p["rows"] for p in curve][:2] == [100, 200]
    gains = np.diff([p["validation_roc_auc"] for p in curve])
    assert (gains[:-1] >= cfg.flat_auc).all() and gains[-1] < cfg.flat_auc  # stopped at the first flat step
    assert rows == curve[-1]["rows"]


def _table(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, FeatureSchema]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    plan = rng.choice(["a", "b", "c"], n)
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.8 * (plan == "a")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"plan": plan, "x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "is_cold_start": 0})
    return frame, y, FeatureSchema(numeric=["x0", "x1", "x2"], categorical=["plan"], sources=[], skipped={})


@pytest.mark.slow  # every grid point cross-validated: ~10 s
def test_every_grid_point_is_cross_validated_and_the_best_is_fitted():
    frame, y, schema = _table(3000, 0)
    cfg = {
        "cv_folds": 2,
        "candidates": ["logistic_regression", "hist_gradient_boosting"],
        "hist_gradient_boosting": GBM,
        "hist_gradient_boosting_grid": [{"max_leaf_nodes": 3}, {"learning_rate": 0.05, "max_iter": 40}],
    }
    model, report = select_and_fit(frame, y, schema, cfg, 0)
    names = {"logistic_regression", "hist_gradient_boosting", *(f"hist_gradient_boosting_grid[{i}]" for i in (0, 1))}
    assert set(report["cv"]) == names
    assert report["selected"] == max(report["cv"], key=lambda k: report["cv"][k]["roc_auc_mean"])
    assert report["fit_rows"] == 3000 and "learning_curve" not in report  # small: every row, no curve
    settings = typed(TrainBaseConfig, cfg, "train_base").settings()
    assert settings["hist_gradient_boosting_grid[0]"][1].max_leaf_nodes == 3
    assert settings["hist_gradient_boosting_grid[1]"][1].max_iter == 40
    assert model.predict_proba(frame).shape == (3000,)


def test_a_large_table_is_fitted_on_a_curve_sized_sample():
    frame, y, schema = _table(9000, 1)
    cfg = {
        "cv_folds": 2,
        "candidates": ["hist_gradient_boosting"],
        "hist_gradient_boosting": GBM,
        "sample": {"cv_rows": 2000, "start_rows": 1000, "max_rows": 4000, "validation_rows": 1500, "flat_auc": 0.5},
    }
    _model, report = select_and_fit(frame, y, schema, cfg, 0)
    assert report["cv_rows"] == 2000
    assert [p["rows"] for p in report["learning_curve"]] == [1000, 2000]  # a gain below 0.5 AUC: flat at once
    assert report["fit_rows"] == 2000


def test_a_misspelt_grid_key_is_named():
    with pytest.raises(ConfigError, match=r"hist_gradient_boosting_grid\[0\]: unknown key 'max_leaves'"):
        typed(
            TrainBaseConfig,
            {
                "cv_folds": 2,
                "candidates": ["hist_gradient_boosting"],
                "hist_gradient_boosting": GBM,
                "hist_gradient_boosting_grid": [{"max_leaves": 3}],
            },
            "train_base",
        ).settings()
