"""The base model's fast scoring path (components/models/fast_trees.py) must give exactly the
pipeline's numbers, for large batches and for the numpy tree walk used for small ones."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from churnguard.core.config import load_params
from churnguard.core.vocabulary import LABEL
from churnguard.features.table import build_feature_table
from churnguard.models.tabular import prepare, select_and_fit
from churnguard.world import generate_world


@pytest.mark.slow  # fits and saves gradient-boosting pipelines: ~9 s
def test_fast_path_equals_pipeline_including_missing_unknown_and_absent(tmp_path):
    params = load_params()
    cfg = dict(copy.deepcopy(params["world"]), customers=2500)
    generate_world(cfg, 9, tmp_path / "raw", tmp_path / "truth", progress=False)
    table, schema = build_feature_table(
        tmp_path / "raw" / "customers.parquet",
        tmp_path / "raw",
        params["data"],
        params["features"],
        cfg["observation_date"],
    )
    train_cfg = dict(copy.deepcopy(params["train_base"]), candidates=["hist_gradient_boosting"], cv_folds=2)
    train_cfg["hist_gradient_boosting"]["max_iter"] = 40
    model, _ = select_and_fit(table, table[LABEL].to_numpy(), schema, train_cfg, 0)
    rows = table.sample(400, random_state=1).reset_index(drop=True).astype(object)
    rows.loc[0, "region"] = None  # missing category
    rows.loc[1, "plan"] = "platinum"  # unknown category
    rows.loc[2, "usage_hours_30d"] = "not a number"  # bad numeric -> missing
    rows.loc[3, "contract"] = np.nan
    partial = rows.drop(columns=["income_band", "sessions_30d"])  # absent columns
    for frame in (rows, partial):
        slow = model.pipeline.predict_proba(prepare(frame, schema))[:, 1]
        # the whole frame (scikit-learn's compiled trees), 8-row chunks and single rows (numpy walk)
        np.testing.assert_array_equal(model.predict_proba(frame), slow)
        chunks = np.concatenate([model.predict_proba(frame.iloc[i : i + 8]) for i in range(0, 128, 8)])
        np.testing.assert_array_equal(chunks, slow[:128])
        singles = [model.predict_proba(frame.iloc[[i]])[0] for i in range(40)]
        np.testing.assert_array_equal(singles, slow[:40])
    assert len(set(np.round(slow, 6))) > 50
