"""Bundle part ``protection`` (order 20): the protected prediction.

``score`` adds ``hardened_probability`` (robust model), ``anomaly_score`` (combined detector
score as a percentile of legitimate calibration customers, 0..1), ``protection_verdict``
(clean | suspicious | attack), ``attack_type``, ``recommended_action`` and ``offer_eligible``
(the protected decision of decision.py: base and hardened model agree on an offer and the
verdict is clean). It never replaces ``churn_probability``: consumers that decide on offers
read ``offer_eligible``, the verdict and the action.
Cold-start customers have no behaviour to manipulate: they get verdict ``clean``,
anomaly score 0 and attack type ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import torch

from churnguard.adversarial.attacks import AttackSpace
from churnguard.adversarial.bounds import FeatureBounds
from churnguard.adversarial.certify import lowest_logit_before_manipulation
from churnguard.adversarial.classify import ACTIONS, AttackClassifier
from churnguard.adversarial.decision import ProtectedDecision
from churnguard.adversarial.detectors import AnomalyDetector
from churnguard.adversarial.encoding import TabularEncoder
from churnguard.adversarial.models import RobustNet, Surrogate
from churnguard.core.bundle import score_frame, write_part_spec
from churnguard.core.columns import Columns, as_columns, numeric, take
from churnguard.features.table import COLD_START_MONTHS

PART_FILE = "protection.joblib"
COLUMNS = [
    "hardened_probability",
    "anomaly_score",
    "protection_verdict",
    "attack_type",
    "recommended_action",
    "offer_eligible",
]


@dataclass
class ProtectionPart:
    encoder: TabularEncoder
    bounds: FeatureBounds
    robust: RobustNet
    surrogate: Surrogate  # differentiable copy of the base model (attacks in evaluation)
    detector: AnomalyDetector
    classifier: AttackClassifier
    thresholds: dict[str, float]  # offer thresholds: base probability, hardened probability, surrogate logit
    meta: dict[str, Any] = field(default_factory=dict)
    decision: ProtectedDecision | None = None  # None: pickled before the protected decision
    reverse: FeatureBounds | None = None  # where a customer may have started (certify.reverse_bounds)
    sets_churn_probability = False  # adds columns only (see the module docstring)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"decision": None, "reverse": None} | state)

    def decision_probability(self, features: pd.DataFrame | Columns) -> np.ndarray:
        """The hardened model's input to the decision: its lowest probability over every customer
        who could have been manipulated into this one (the observed one without ``reverse``)."""
        if self.reverse is None:
            return self.hardened_probability(features)
        cols, _ = as_columns(features)
        space = AttackSpace.build(cols, self.encoder, self.reverse)
        direction = torch.as_tensor(self.meta["behaviour_directions"], dtype=torch.float32)
        if self.robust.training:
            self.robust.eval()
        with torch.no_grad():
            return torch.sigmoid(lowest_logit_before_manipulation(self.robust, space, direction)).numpy().astype(float)

    @property
    def mut_pos(self) -> list[int]:
        return [self.encoder.numeric.index(c) for c in self.bounds.mutable]

    def hardened_probability(self, features: pd.DataFrame | Columns) -> np.ndarray:
        if self.robust.training:  # eval() walks every module: only when needed, not per request
            self.robust.eval()
        with torch.no_grad():
            return torch.sigmoid(self.robust(self.encoder.encode(features))).numpy().astype(float)

    def established(self, features: pd.DataFrame | Columns) -> np.ndarray:
        cols, n = as_columns(features)
        if "is_cold_start" in cols:
            cold = np.nan_to_num(numeric(cols, "is_cold_start", n), nan=0.0) != 0
        elif "tenure_months" in cols:
            cold = np.nan_to_num(numeric(cols, "tenure_months", n), nan=np.inf) < COLD_START_MONTHS
        else:
            cold = np.zeros(n, dtype=bool)
        return ~cold

    def protect_columns(self, cols: Columns, n: int, base_probability: np.ndarray | None = None) -> Columns:
        """The protection columns (:data:`COLUMNS`) for each row; ``offer_eligible`` needs the
        base model's probability (without it, or without a decision, it is the clean verdict)."""
        hp = self.hardened_probability(cols)
        out = {
            "hardened_probability": hp,
            "anomaly_score": np.zeros(n),
            "protection_verdict": np.full(n, "clean", dtype=object),
            "attack_type": np.full(n, "none", dtype=object),
            "recommended_action": np.full(n, ACTIONS["clean"], dtype=object),
        }
        est = self.established(cols)
        if est.any():
            a = self.detector.assess(take(cols, est) if not est.all() else cols)
            kind, action = self.classifier.classify(a["deviations"], a["verdict"])
            out["anomaly_score"][est] = a["anomaly_score"]
            out["protection_verdict"][est] = a["verdict"]
            out["attack_type"][est] = kind
            out["recommended_action"][est] = action
        clean = out["protection_verdict"] == "clean"
        if self.decision is None or base_probability is None:
            out["offer_eligible"] = clean
        else:
            dp = self.decision_probability(cols)
            out["offer_eligible"] = self.decision.offer(base_probability, dp, out["protection_verdict"])
        return out

    def offers(self, features: pd.DataFrame | Columns, base_probability: np.ndarray) -> np.ndarray:
        """The protected decision for each row (True = may receive a retention offer)."""
        cols, n = as_columns(features)
        return np.asarray(self.protect_columns(cols, n, base_probability)["offer_eligible"], bool)

    def protect(self, features: pd.DataFrame, base_probability: np.ndarray | None = None) -> pd.DataFrame:
        cols, n = as_columns(features)
        return pd.DataFrame(self.protect_columns(cols, n, base_probability), index=features.index)

    def score_columns(self, cols: Columns, n: int, scores: Columns) -> Columns:
        return {**scores, **self.protect_columns(cols, n, scores.get("base_probability"))}

    def score(self, features: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
        return score_frame(self, features, scores)


def save_part(part: ProtectionPart, part_dir: Path) -> None:
    part_dir = Path(part_dir)
    part_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(part, part_dir / PART_FILE)
    write_part_spec(
        part_dir,
        "protection",
        20,
        "churnguard.adversarial.protection:load_part",
        columns=COLUMNS,
        mutable=part.bounds.mutable,
        thresholds=part.thresholds,
        detector_thresholds=part.detector.thresholds,
        detector_weights=part.detector.weights,
        decision=vars(part.decision) if part.decision is not None else None,
    )


def load_part(part_dir: Path) -> ProtectionPart:
    return joblib.load(Path(part_dir) / PART_FILE)
