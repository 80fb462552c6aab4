"""The detectors' IsolationForest fast path must give scikit-learn's scores, for one row
(every node decided at once) and for large batches (level-by-level walk)."""

from __future__ import annotations

import pickle

import numpy as np
from sklearn.ensemble import IsolationForest

from churnguard.adversarial.detectors import FastForest


def test_fast_forest_equals_sklearn_score_samples_for_single_rows_and_batches():
    rng = np.random.default_rng(3)
    train = rng.normal(size=(3000, 9)) * rng.uniform(0.5, 3, 9)
    forest = IsolationForest(n_estimators=60, max_samples=256, max_features=0.8, random_state=0).fit(train)
    fast = FastForest(forest)
    rows = np.vstack([rng.normal(size=(2000, 9)) * 2, rng.normal(size=(20, 9)) * 10])  # incl. outliers
    want = forest.score_samples(rows)
    np.testing.assert_allclose(fast.score_samples(rows), want, rtol=0, atol=1e-12)
    singles = np.concatenate([fast.score_samples(rows[i : i + 1]) for i in range(1990, 2020)])
    np.testing.assert_allclose(singles, want[1990:2020], rtol=0, atol=1e-12)
    assert want[-20:].mean() < want[:2000].mean()  # the outliers do score as outliers
    again = pickle.loads(pickle.dumps(fast))  # survives the bundle's joblib round trip
    np.testing.assert_array_equal(again.score_samples(rows[:5]), fast.score_samples(rows[:5]))
