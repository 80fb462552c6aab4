"""Anomaly detection: IsolationForest, one-sided robust z-score, kNN distance, churn signal and
context gap, combined.

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
behaviour is noisier and less extreme). The fifth, ``context_gap``, is the churn signal minus
what the customer's immutable context predicts for it (``ContextModel``): an attacker can fake
behaviour but not the contract, charges and history that real churners' behaviour goes with.

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
from sklearn.linear_model import LogisticRegression

from churnguard.adversarial.certify import label_directions
from churnguard.adversarial.config import DetectConfig
from churnguard.adversarial.detector_parts import (  # noqa: F401  (FastForest, RATES: names older pickles use)
    RATES,
    BehaviourView,
    ContextModel,
    FastForest,
    TailCalibrator,
)
from churnguard.core.columns import Columns, as_columns

DETECTORS = ("isolation_forest", "robust_z", "knn", "churn_signal", "context_gap")


@dataclass
class DetectorData:
    """The customers a detector is fitted and calibrated on (disjoint sets of training customers)."""

    fit: pd.DataFrame
    cal_a: pd.DataFrame  # tail calibration + combination weights
    cal_b: pd.DataFrame  # thresholds
    labels_fit: np.ndarray
    manipulated_a: pd.DataFrame | None = None  # manipulated copies of cal_a customers (threat model)


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
    context: ContextModel | None = None  # context_gap detector (None: pickled before it)
    chunk_rows: int = 8192  # kNN distances are computed this many rows at a time

    def __setstate__(self, state: dict[str, Any]) -> None:
        # detectors pickled before the churn signal / context gap: fewer detectors, same scores
        self.__dict__.update({"churn_coef": np.zeros(0), "weights": {}, "context": None, "chunk_rows": 8192} | state)

    @classmethod
    def fit(
        cls, data: DetectorData, mutable: list[str], categorical: list[str], encoder, cfg: DetectConfig, seed: int
    ) -> AnomalyDetector:
        """Fit every detector on ``data.fit``, calibrate tails (and learn the combination weights
        from ``data.manipulated_a``; plain Fisher without it) on ``cal_a``, thresholds on ``cal_b``."""
        det = cls._fit_detectors(data, mutable, categorical, encoder, cfg, seed)
        _, raw_a = det.scores(data.cal_a)
        det.calibrators = {k: TailCalibrator(s) for k, s in raw_a.items()}
        manipulated = data.manipulated_a
        if cfg.combine == "learned" and manipulated is not None and len(manipulated):
            det.weights = det._learn_weights(raw_a, det.scores(manipulated)[1], cfg.min_weight)
        det._set_thresholds(det.scores(data.cal_b)[1], cfg)
        return det

    @classmethod
    def _fit_detectors(
        cls, data: DetectorData, mutable: list[str], categorical: list[str], encoder, cfg: DetectConfig, seed: int
    ) -> AnomalyDetector:
        rng = np.random.default_rng(seed)
        view = BehaviourView.fit(data.fit, mutable)
        v = view.transform(data.fit)
        forest = IsolationForest(
            n_estimators=cfg.isolation_forest.n_estimators,
            max_samples=cfg.isolation_forest.max_samples,
            random_state=seed,
            n_jobs=1,
        ).fit(v)
        ref_n = min(cfg.knn.reference, len(v))
        reference = v[rng.choice(len(v), ref_n, replace=False)].astype(np.float32)
        log_fit = view.log_mutable(data.fit)
        churn = LogisticRegression(max_iter=2000).fit(log_fit, data.labels_fit)
        coef = np.append(churn.coef_[0], churn.intercept_[0])
        signal = log_fit @ coef[:-1] + coef[-1]
        context = ContextModel.fit(encoder, mutable, categorical, data.fit, signal) if encoder is not None else None
        direction = label_directions(v, data.labels_fit)
        return cls(
            view, FastForest(forest), direction, reference, cfg.knn.k, {}, {}, np.zeros(0), coef, {}, context,
            cfg.knn.chunk_rows,
        )  # fmt: skip

    def _set_thresholds(self, raw_b: dict[str, np.ndarray], cfg: DetectConfig) -> None:
        """Thresholds at the FP budgets of presumed-legitimate set-B customers (the top
        ``expected_contamination`` left out: real data holds fraudsters nobody labelled)."""
        combined = self.combined(raw_b)
        keep = 1.0 - cfg.expected_contamination

        def trim(s: np.ndarray) -> np.ndarray:
            return np.sort(s)[: max(1, int(keep * len(s)))]

        self.thresholds = {
            "suspicious": float(np.quantile(trim(combined), 1 - cfg.fp_budget)),
            "attack": float(np.quantile(trim(combined), 1 - cfg.attack_fp_budget)),
            "isolation_forest": float(np.quantile(trim(raw_b["isolation_forest"]), 1 - cfg.fp_budget)),
        }
        self.calibration = trim(combined)

    @property
    def names(self) -> list[str]:
        """The detectors this instance has (older pickles lack the later ones)."""
        return [k for k in DETECTORS if k in self.calibrators] if self.calibrators else list(DETECTORS)

    def _evidence(self, raw: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
        """-2 log tail probability per detector (columns in ``names`` order)."""
        return np.stack([-2.0 * np.log(self.calibrators[k].tail(raw[k])) for k in names], axis=1)

    def _learn_weights(
        self, clean: dict[str, np.ndarray], manipulated: dict[str, np.ndarray], min_weight: float
    ) -> dict[str, float]:
        """Non-negative weights that best separate manipulated copies from clean customers,
        scaled to sum to the number of detectors (so equal weights = plain Fisher); every
        detector keeps at least ``min_weight`` so that none is switched off by one sample."""
        names = self.names
        x = np.concatenate([self._evidence(clean, names), self._evidence(manipulated, names)])
        y = np.r_[np.zeros(len(clean[names[0]])), np.ones(len(manipulated[names[0]]))]
        w = np.clip(LogisticRegression(max_iter=2000, class_weight="balanced").fit(x, y).coef_[0], 0, None)
        if w.sum() <= 0:
            return {}
        w = np.maximum(w * len(names) / w.sum(), min_weight)
        w = w * len(names) / w.sum()
        return {k: float(v) for k, v in zip(names, w)}

    def deviations(self, v: np.ndarray) -> np.ndarray:
        """Churn-ward deviation per view feature (robust units)."""
        return v * self.direction

    def knn_distance(self, v: np.ndarray) -> np.ndarray:
        """Mean distance to the k nearest reference customers, ``chunk_rows`` rows at a time
        (never a full rows x reference matrix: memory stays bounded at any row count)."""
        ref_sq = self.__dict__.get("_ref_sq")
        if ref_sq is None:  # the reference set never changes: its squared norms once per process
            ref_sq = self.__dict__["_ref_sq"] = (self.reference**2).sum(1)[None, :]
        k = min(self.k, self.reference.shape[0] - 1)
        out = np.empty(len(v))
        for start in range(0, len(v), max(1, self.chunk_rows)):
            vf = v[start : start + self.chunk_rows].astype(np.float32)
            d2 = (vf**2).sum(1)[:, None] + ref_sq - 2 * vf @ self.reference.T
            # the k smallest distances per row: torch.topk is ~3x faster than np.partition here
            nearest = torch.topk(torch.from_numpy(np.ascontiguousarray(d2)), k, dim=1, largest=False).values.numpy()
            out[start : start + len(vf)] = np.sqrt(np.maximum(nearest, 0)).mean(1)
        return out

    def raw_scores(
        self, v: np.ndarray, log_mutable: np.ndarray | None = None, context: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        dev = np.clip(self.deviations(v) - 1.0, 0, None)
        out = {
            "isolation_forest": -self.forest.score_samples(v),
            "robust_z": (dev**2).sum(1),
            "knn": self.knn_distance(v),
        }
        if len(self.churn_coef) and log_mutable is not None:
            out["churn_signal"] = log_mutable @ self.churn_coef[:-1] + self.churn_coef[-1]
            if context is not None:
                out["context_gap"] = out["churn_signal"] - context
        return out

    def scores(self, data: pd.DataFrame | Columns) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The behaviour view of ``data`` and every detector's raw score on it."""
        cols, _ = as_columns(data)
        v = self.view.transform(cols)
        context = self.context.predict(cols) if self.context is not None else None
        return v, self.raw_scores(v, self.view.log_mutable(cols), context)

    def combined(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        """Weighted Fisher combination of the detectors' tail probabilities (higher = more anomalous)."""
        names = self.names
        return self._evidence(raw, names) @ np.array([self.weights.get(k, 1.0) for k in names])

    def verdict(self, combined: np.ndarray) -> np.ndarray:
        return np.where(
            combined > self.thresholds["attack"],
            "attack",
            np.where(combined > self.thresholds["suspicious"], "suspicious", "clean"),
        )

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
                **{k: empty for k in self.names},
            }
        v, raw = self.scores(cols)
        comb = self.combined(raw)
        return {
            "combined": comb,
            "anomaly_score": np.searchsorted(self.calibration, comb, side="right") / len(self.calibration),
            "verdict": self.verdict(comb),
            "deviations": self.deviations(v),
            "isolation_forest_flag": raw["isolation_forest"] > self.thresholds["isolation_forest"],
            **raw,
        }
