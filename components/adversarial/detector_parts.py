"""Building blocks of the detectors: the behaviour view, fast IsolationForest scoring, tail
calibration, and the context model of the ``context_gap`` detector."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length
from sklearn.linear_model import Ridge

from churnguard.adversarial.encoding import TabularEncoder
from churnguard.core.columns import Columns, as_columns, numeric_matrix
from churnguard.models.fast_trees import FlatForest

RATES = {  # name: (numerator, denominator); +1 smoothing on the denominator
    "cancel_page_share": ("cancel_page_views_30d", "events_30d"),
    "support_page_share": ("support_page_views_30d", "events_30d"),
    "checkouts_per_session": ("checkouts_30d", "sessions_30d"),
    "events_per_session": ("events_30d", "sessions_30d"),
}


@dataclass
class BehaviourView:
    """Mutable features + activity-normalised rates, standardised on training customers."""

    mutable: list[str]
    rates: list[str]
    fill: np.ndarray
    log_cols: np.ndarray
    median: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))

    @property
    def names(self) -> list[str]:
        return self.mutable + self.rates

    @classmethod
    def fit(cls, frame: pd.DataFrame, mutable: list[str]) -> BehaviourView:
        x = frame[mutable].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        rates = [r for r, (a, b) in RATES.items() if a in mutable and b in mutable]
        log_cols = (np.nanmin(x, 0) >= 0) & (np.nanmax(x, 0) > 1.5)
        view = cls(list(mutable), rates, np.nan_to_num(np.nanmedian(x, 0)), log_cols)
        v = view._raw(frame)
        view.median = np.median(v, 0)
        q75, q25 = np.percentile(v, [75, 25], 0)
        view.scale = np.maximum((q75 - q25) / 1.349, 0.5 * v.std(0) + 1e-6)
        return view

    def _raw(self, data: pd.DataFrame | Columns) -> np.ndarray:
        cols, n = as_columns(data)
        x = numeric_matrix(cols, self.mutable, n)
        x = np.where(np.isnan(x), self.fill, x)
        parts = [np.where(self.log_cols, np.log1p(np.maximum(x, 0)), x)]
        for r in self.rates:
            a, b = RATES[r]
            parts.append((x[:, self.mutable.index(a)] / (x[:, self.mutable.index(b)] + 1.0))[:, None])
        return np.concatenate(parts, 1)

    def transform(self, data: pd.DataFrame | Columns) -> np.ndarray:
        return (self._raw(data) - self.median) / self.scale

    def log_mutable(self, data: pd.DataFrame | Columns) -> np.ndarray:
        """log1p of every mutable feature (missing -> training median): the churn signal's input."""
        cols, n = as_columns(data)
        x = numeric_matrix(cols, self.mutable, n)
        return np.log1p(np.maximum(np.where(np.isnan(x), self.fill, x), 0))


class FastForest:
    """IsolationForest scoring without per-tree Python/joblib overhead (same numbers as
    ``IsolationForest.score_samples``): all trees walked at once (:class:`FlatForest`), then
    each leaf's depth + average path length of its remaining samples."""

    def __init__(self, forest: IsolationForest):
        self._build(
            [e.tree_ for e in forest.estimators_],
            forest.estimators_features_,
            float(_average_path_length([forest.max_samples_])[0]),
        )

    def __setstate__(self, state: dict) -> None:
        if "walker" in state:
            self.__dict__.update(state)
        else:  # pickled by the earlier per-tree version: rebuild from its trees
            self._build(state["trees"], state["features"], state["norm"])

    def _build(self, trees: list, features: list, norm: float) -> None:
        parts, roots, leaf_value, offset, depth = [], [], [], 0, 0
        for t, feats in zip(trees, features):
            d = np.zeros(t.node_count)
            for node in range(t.node_count):  # children always come after their parent
                for child in (t.children_left[node], t.children_right[node]):
                    if child != -1:
                        d[child] = d[node] + 1
            leaf = t.children_left == -1
            parts.append(
                (
                    np.where(leaf, 0, np.asarray(feats)[np.maximum(t.feature, 0)]),
                    t.threshold,
                    t.children_left + offset,
                    t.children_right + offset,
                    leaf,
                )
            )
            leaf_value.append(d + _average_path_length(t.n_node_samples))
            roots.append(offset)
            offset += t.node_count
            depth = max(depth, int(d.max()))
        feature, threshold, left, right, leaf = (np.concatenate(c) for c in zip(*parts))
        self.walker = FlatForest(feature, threshold, left, right, leaf, np.zeros(len(leaf), bool), roots, depth)
        self.leaf_value = np.concatenate(leaf_value)
        self.n_trees = len(roots)
        self.norm = norm

    def score_samples(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).astype(np.float64)  # sklearn's trees compare in float32
        total = np.cumsum(self.leaf_value[self.walker.leaves(x)], axis=1)[:, -1]
        return -(2.0 ** (-total / self.n_trees / self.norm))


TAIL_FLOOR = 1e-16


class TailCalibrator:
    """Empirical upper-tail probability, extrapolated exponentially beyond the largest value."""

    def __init__(self, scores: np.ndarray):
        self.sorted = np.sort(np.asarray(scores, dtype=float))
        top = self.sorted[int(0.99 * len(self.sorted)) :]
        self.scale = float(max(top.std(), 1e-6))

    def tail(self, s: np.ndarray) -> np.ndarray:
        n = len(self.sorted)
        above = n - np.searchsorted(self.sorted, s, side="left")
        p = (1.0 + above) / (n + 1.0)
        beyond = s > self.sorted[-1]
        # floored so that -log stays finite: far beyond the calibration data every score is
        # "extreme" anyway, and an infinite term would swamp the weighted combination
        return np.maximum(np.where(beyond, p * np.exp(-(s - self.sorted[-1]) / self.scale), p), TAIL_FLOOR)


@dataclass
class ContextModel:
    """What a customer's immutable context (everything an attacker cannot change: contract,
    charges, tenure, demographics, graph features) predicts for a behaviour score: a ridge
    regression on the encoder's codes without the mutable features. The ``context_gap``
    detector is the churn signal minus this prediction: churn-like behaviour that the customer's
    own context does not explain."""

    encoder: TabularEncoder
    keep: np.ndarray  # code columns that are context (no mutable numeric, no mutable categorical)
    coef: np.ndarray
    intercept: float

    @classmethod
    def fit(
        cls, encoder: TabularEncoder, mutable: list[str], mutable_categorical: list[str], frame, target: np.ndarray
    ) -> ContextModel:
        keep = np.ones(encoder.width, bool)
        keep[[encoder.numeric.index(c) for c in mutable]] = False
        for c in mutable_categorical:
            if c in encoder.categorical:
                block = encoder.cat_block(c)
                offset = len(encoder.numeric) + len(encoder.indicator_cols)
                keep[offset + block.start : offset + block.stop] = False
        model = Ridge(alpha=1.0).fit(encoder.encode(frame).numpy()[:, keep], target)
        return cls(encoder, np.nonzero(keep)[0], model.coef_.astype(np.float64), float(model.intercept_))

    def predict(self, data: pd.DataFrame | Columns) -> np.ndarray:
        return self.encoder.encode(data).numpy()[:, self.keep].astype(np.float64) @ self.coef + self.intercept
