"""Anomaly detection: IsolationForest + one-sided robust z-score + kNN distance + churn signal, combined.

The detectors look at a *behaviour view* of a customer: the mutable features (log-scaled
counts) plus activity-normalised rates (cancel-page share of events, support-page share,
checkouts per session, events per session), because a manipulation shows as behaviour that
is extreme for the customer's own level of activity. The robust z-score detector is
one-sided: it sums the squared deviations (median/MAD units, beyond 1) in the direction that
makes a customer look like a churner (learnt from training labels), the direction an
offer-seeking attacker must move.

The fourth detector, ``churn_signal``, is a linear model of the log behaviour fitted on the
training customers' churn labels: how loudly the behaviour *alone* says "churn". Faking churn
is the attacker's goal, so the loudest behaviour is where fakes concentrate (real churners'
behaviour is noisier and less extreme).

Each detector's raw score becomes a tail probability against calibration customers (never
the ones it was fitted on); the tail probabilities are combined by a weighted Fisher's method,
``-2 * sum_k w_k log p_k``. The weights come from the threat model, not from any fraud label: a
non-negative logistic regression that separates calibration customers from manipulated
copies of themselves (moves inside the box: the GAN seed and churn-ward moves), or equal
weights (plain Fisher) when no manipulated copies are given. The combined score's thresholds
are set on a second calibration set so that at most ``fp_budget`` (suspicious) /
``attack_fp_budget`` (attack) of presumed-legitimate customers are flagged.
"Presumed legitimate": the top ``expected_contamination`` share of that set is left out when
setting thresholds, because real data holds fraudsters nobody has labelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length
from sklearn.linear_model import LogisticRegression

from churnguard.adversarial.certify import label_directions
from churnguard.core.columns import Columns, as_columns, numeric_matrix
from churnguard.models.fast_trees import FlatForest

DETECTORS = ("isolation_forest", "robust_z", "knn", "churn_signal")
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
        cols = [np.where(self.log_cols, np.log1p(np.maximum(x, 0)), x)]
        for r in self.rates:
            a, b = RATES[r]
            cols.append((x[:, self.mutable.index(a)] / (x[:, self.mutable.index(b)] + 1.0))[:, None])
        return np.concatenate(cols, 1)

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
class AnomalyDetector:
    view: BehaviourView
    forest: FastForest  # a fitted sklearn IsolationForest, scored fast
    direction: np.ndarray  # +1 where a higher view value looks more like churn
    reference: np.ndarray
    k: int
    calibrators: dict[str, TailCalibrator]
    thresholds: dict[str, float]  # combined: suspicious / attack; isolation_forest alone
    calibration: np.ndarray  # sorted combined scores of presumed-legitimate calibration customers
    churn_coef: np.ndarray = field(default_factory=lambda: np.zeros(0))  # churn signal on log1p(mutable)
    weights: dict[str, float] = field(default_factory=dict)  # combination weights (empty: Fisher)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # detectors pickled before the churn signal: three detectors, plain Fisher
        self.__dict__.update({"churn_coef": np.zeros(0), "weights": {}} | state)

    @classmethod
    def fit(
        cls,
        fit: pd.DataFrame,
        cal_a: pd.DataFrame,
        cal_b: pd.DataFrame,
        labels_fit: np.ndarray,
        mutable: list[str],
        cfg: dict[str, Any],
        seed: int,
        manipulated_a: pd.DataFrame | None = None,
    ) -> AnomalyDetector:
        """``manipulated_a``: manipulated copies of (some of) the ``cal_a`` customers, from which
        the combination weights are learnt; without it the combination is plain Fisher."""
        rng = np.random.default_rng(seed)
        view = BehaviourView.fit(fit, mutable)
        v = view.transform(fit)
        forest = IsolationForest(
            n_estimators=int(cfg["isolation_forest"]["n_estimators"]),
            max_samples=int(cfg["isolation_forest"]["max_samples"]),
            random_state=seed,
            n_jobs=1,
        ).fit(v)
        direction = label_directions(v, labels_fit)
        ref_n = min(int(cfg["knn"]["reference"]), len(v))
        reference = v[rng.choice(len(v), ref_n, replace=False)].astype(np.float32)
        churn = LogisticRegression(max_iter=2000).fit(view.log_mutable(fit), labels_fit)
        det = cls(
            view,
            FastForest(forest),
            direction,
            reference,
            int(cfg["knn"]["k"]),
            {},
            {},
            np.zeros(0),
            np.append(churn.coef_[0], churn.intercept_[0]),
        )
        _, raw_a = det.scores(cal_a)
        det.calibrators = {k: TailCalibrator(s) for k, s in raw_a.items()}
        if cfg.get("combine", "learned") == "learned" and manipulated_a is not None and len(manipulated_a):
            det.weights = det._learn_weights(raw_a, det.scores(manipulated_a)[1], float(cfg.get("min_weight", 0.0)))
        _, raw_b = det.scores(cal_b)
        combined = det.combined(raw_b)
        keep = 1.0 - float(cfg["expected_contamination"])
        trim = lambda s: np.sort(s)[: max(1, int(keep * len(s)))]
        fp, fp_attack = float(cfg["fp_budget"]), float(cfg["attack_fp_budget"])
        det.thresholds = {
            "suspicious": float(np.quantile(trim(combined), 1 - fp)),
            "attack": float(np.quantile(trim(combined), 1 - fp_attack)),
            "isolation_forest": float(np.quantile(trim(raw_b["isolation_forest"]), 1 - fp)),
        }
        det.calibration = trim(combined)
        return det

    def _evidence(self, raw: dict[str, np.ndarray], names: tuple[str, ...] | list[str] = DETECTORS) -> np.ndarray:
        """-2 log tail probability per detector (columns in ``names`` order)."""
        return np.stack([-2.0 * np.log(self.calibrators[k].tail(raw[k])) for k in names], axis=1)

    def _learn_weights(
        self, clean: dict[str, np.ndarray], manipulated: dict[str, np.ndarray], min_weight: float
    ) -> dict[str, float]:
        """Non-negative weights that best separate manipulated copies from clean customers,
        scaled to sum to the number of detectors (so equal weights = plain Fisher); every
        detector keeps at least ``min_weight`` so that none is switched off by one sample."""
        x = np.concatenate([self._evidence(clean), self._evidence(manipulated)])
        y = np.r_[np.zeros(len(clean[DETECTORS[0]])), np.ones(len(manipulated[DETECTORS[0]]))]
        w = np.clip(LogisticRegression(max_iter=2000, class_weight="balanced").fit(x, y).coef_[0], 0, None)
        if w.sum() <= 0:
            return {}
        w = np.maximum(w * len(DETECTORS) / w.sum(), min_weight)
        w = w * len(DETECTORS) / w.sum()
        return {k: float(v) for k, v in zip(DETECTORS, w)}

    def deviations(self, v: np.ndarray) -> np.ndarray:
        """Churn-ward deviation per view feature (robust units)."""
        return v * self.direction

    def raw_scores(self, v: np.ndarray, log_mutable: np.ndarray | None = None) -> dict[str, np.ndarray]:
        dev = np.clip(self.deviations(v) - 1.0, 0, None)
        vf = v.astype(np.float32)
        ref_sq = self.__dict__.get("_ref_sq")
        if ref_sq is None:  # the reference set never changes: its squared norms once per process
            ref_sq = self.__dict__["_ref_sq"] = (self.reference**2).sum(1)[None, :]
        d2 = (vf**2).sum(1)[:, None] + ref_sq - 2 * vf @ self.reference.T
        k = min(self.k, self.reference.shape[0] - 1)
        # the k smallest distances per row: torch.topk is ~3x faster than np.partition here
        nearest = torch.topk(torch.from_numpy(np.ascontiguousarray(d2)), k, dim=1, largest=False).values.numpy()
        knn = np.sqrt(np.maximum(nearest, 0)).mean(1)
        out = {"isolation_forest": -self.forest.score_samples(v), "robust_z": (dev**2).sum(1), "knn": knn.astype(float)}
        if len(self.churn_coef) and log_mutable is not None:
            out["churn_signal"] = log_mutable @ self.churn_coef[:-1] + self.churn_coef[-1]
        return out

    def scores(self, data: pd.DataFrame | Columns) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The behaviour view of ``data`` and every detector's raw score on it."""
        v = self.view.transform(data)
        return v, self.raw_scores(v, self.view.log_mutable(data))

    def combined(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        """Weighted Fisher combination of the detectors' tail probabilities (higher = more
        anomalous). Detectors this instance lacks (pickled before churn_signal) are skipped."""
        names = [k for k in DETECTORS if k in self.calibrators]
        return self._evidence(raw, names) @ np.array([self.weights.get(k, 1.0) for k in names])

    def assess(self, data: pd.DataFrame | Columns) -> dict[str, np.ndarray]:
        cols, n = as_columns(data)
        if n == 0:
            empty = np.zeros(0)
            return {
                "combined": empty,
                "anomaly_score": empty,
                "verdict": np.zeros(0, dtype=object),
                "deviations": np.zeros((0, len(self.view.names))),
                "isolation_forest_flag": np.zeros(0, bool),
                **{k: empty for k in DETECTORS},
            }
        v, raw = self.scores(cols)
        comb = self.combined(raw)
        pct = np.searchsorted(self.calibration, comb, side="right") / len(self.calibration)
        verdict = np.where(
            comb > self.thresholds["attack"],
            "attack",
            np.where(comb > self.thresholds["suspicious"], "suspicious", "clean"),
        )
        return {
            "combined": comb,
            "anomaly_score": pct,
            "verdict": verdict,
            "deviations": self.deviations(v),
            "isolation_forest_flag": raw["isolation_forest"] > self.thresholds["isolation_forest"],
            **raw,
        }
