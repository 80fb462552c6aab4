"""Bundle part ``protection`` (order 20): the protected prediction.

``score`` adds ``hardened_probability`` (robust model), ``anomaly_score`` (combined detector
score as a percentile of legitimate calibration customers, 0..1), ``protection_verdict``
(clean | suspicious | attack), ``attack_type`` and ``recommended_action``. It never replaces
``churn_probability``: consumers that decide on offers read the verdict and action.
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

from components.adversarial.bounds import FeatureBounds
from components.adversarial.classify import ACTIONS, AttackClassifier
from components.adversarial.detectors import AnomalyDetector
from components.adversarial.encoding import TabularEncoder
from components.adversarial.models import RobustNet, Surrogate
from components.bundle import write_part_spec
from components.features.table import COLD_START_MONTHS

PART_FILE = "protection.joblib"
COLUMNS = ["hardened_probability", "anomaly_score", "protection_verdict", "attack_type", "recommended_action"]


@dataclass
class ProtectionPart:
    encoder: TabularEncoder
    bounds: FeatureBounds
    robust: RobustNet
    surrogate: Surrogate               # differentiable copy of the base model (attacks in evaluation)
    detector: AnomalyDetector
    classifier: AttackClassifier
    thresholds: dict[str, float]       # offer thresholds: base probability, hardened probability, surrogate logit
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def mut_pos(self) -> list[int]:
        return [self.encoder.numeric.index(c) for c in self.bounds.mutable]

    def hardened_probability(self, features: pd.DataFrame) -> np.ndarray:
        with torch.no_grad():
            self.robust.eval()
            return torch.sigmoid(self.robust(self.encoder.encode(features))).numpy().astype(float)

    def established(self, features: pd.DataFrame) -> np.ndarray:
        if "is_cold_start" in features:
            cold = pd.to_numeric(features["is_cold_start"], errors="coerce").fillna(0).to_numpy() != 0
        elif "tenure_months" in features:
            cold = pd.to_numeric(features["tenure_months"], errors="coerce").fillna(np.inf).to_numpy() < COLD_START_MONTHS
        else:
            cold = np.zeros(len(features), dtype=bool)
        return ~cold

    def protect(self, features: pd.DataFrame) -> pd.DataFrame:
        n = len(features)
        z = self.encoder.encode(features)
        with torch.no_grad():
            self.robust.eval()
            hp = torch.sigmoid(self.robust(z)).numpy().astype(float)
        out = pd.DataFrame({"hardened_probability": hp, "anomaly_score": np.zeros(n),
                            "protection_verdict": np.full(n, "clean", dtype=object),
                            "attack_type": np.full(n, "none", dtype=object),
                            "recommended_action": np.full(n, ACTIONS["clean"], dtype=object)}, index=features.index)
        est = self.established(features)
        if est.any():
            a = self.detector.assess(features[est])
            kind, action = self.classifier.classify(a["deviations"], a["verdict"])
            out.loc[est, "anomaly_score"] = a["anomaly_score"]
            out.loc[est, "protection_verdict"] = a["verdict"]
            out.loc[est, "attack_type"] = kind
            out.loc[est, "recommended_action"] = action
        return out

    def score(self, features: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
        out = scores.copy()
        prot = self.protect(features)
        for c in COLUMNS:
            out[c] = prot[c].to_numpy()
        return out


def save_part(part: ProtectionPart, part_dir: Path) -> None:
    part_dir = Path(part_dir)
    part_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(part, part_dir / PART_FILE)
    write_part_spec(part_dir, "protection", 20, "components.adversarial.protection:load_part",
                    columns=COLUMNS, mutable=part.bounds.mutable, thresholds=part.thresholds,
                    detector_thresholds=part.detector.thresholds)


def load_part(part_dir: Path) -> ProtectionPart:
    return joblib.load(Path(part_dir) / PART_FILE)
