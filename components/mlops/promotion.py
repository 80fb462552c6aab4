"""Promotion: a version becomes ``champion`` only through quality gates and a fair comparison.

Fair comparison = the current champion is rescored now on the same holdout rows as the
candidate, so an old number logged on other data never decides.
"""

from __future__ import annotations

import getpass
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from churnguard.mlops.registry import champion_version, check_gates


@dataclass
class PromotionDecision:
    promoted: bool
    version: str
    reasons: list[str] = field(default_factory=list)
    candidate_auc: float | None = None
    champion_version: str | None = None
    champion_auc: float | None = None

    def summary(self) -> str:
        head = f"version {self.version}: " + ("promoted to champion" if self.promoted else "NOT promoted")
        return head + ("" if not self.reasons else " (" + "; ".join(self.reasons) + ")")


def holdout_auc(bundle: Any, holdout: pd.DataFrame, y: np.ndarray) -> float:
    return float(roc_auc_score(y, bundle.predict(holdout)["churn_probability"].to_numpy()))


def decide(
    client: Any,
    name: str,
    alias: str,
    version: str,
    metrics: dict[str, float],
    gates: dict[str, float],
    tolerance: float,
    candidate_bundle: Any,
    holdout: pd.DataFrame | None,
    y: np.ndarray | None,
) -> PromotionDecision:
    """Apply the gates, then compare with the current champion on the same holdout."""
    from churnguard.mlops.registry import load_bundle

    gate = check_gates(metrics, gates)
    decision = PromotionDecision(promoted=False, version=str(version), reasons=list(gate.reasons))
    current = champion_version(client, name, alias)
    if current is not None and holdout is not None and y is not None:
        decision.champion_version = str(current.version)
        decision.candidate_auc = holdout_auc(candidate_bundle, holdout, y)
        if str(current.version) != str(version):
            try:
                decision.champion_auc = holdout_auc(load_bundle(f"models:/{name}@{alias}"), holdout, y)
            except Exception as exc:  # an incompatible old champion must not block forever
                decision.reasons.append(
                    f"champion v{current.version} could not be rescored ({exc}); promote manually if intended"
                )
            else:
                if decision.candidate_auc < decision.champion_auc - tolerance:
                    decision.reasons.append(
                        f"holdout ROC AUC {decision.candidate_auc:.4f} < champion v{current.version} "
                        f"{decision.champion_auc:.4f} on the same rows"
                    )
    decision.promoted = not decision.reasons
    return decision


def move_alias(client: Any, name: str, alias: str, version: str, why: str, who: str | None = None) -> None:
    """Point the alias at ``version`` and record who and why as version tags."""
    client.set_registered_model_alias(name, alias, str(version))
    client.set_model_version_tag(name, str(version), "promoted_by", who or getpass.getuser())
    client.set_model_version_tag(name, str(version), "promotion_reason", why)
    client.set_model_version_tag(name, str(version), "promoted_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
