"""Contract stubs of bundle parts for serving tests: the `interventions` part (order 30), and a noisy
final part that makes a worse challenger for the champion/challenger tests.

It implements exactly the methods serving calls (``recommend`` and ``explain``, columns per
docs/CONTRIBUTING.md) with simple deterministic arithmetic, so serving's routes can be tested
before the real counterfactual part lands. It is registered as a real part of a real MLflow
version by tests/serving/conftest.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

OFFERS = {"discount_10": 10.0, "retention_call": 5.0, "contract_upgrade": 20.0}


class StubInterventions:
    def recommend(self, features: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for _, r in features.iterrows():
            tickets = float(r.get("support_tickets_90d") or 0.0)
            p = min(0.9, 0.1 + 0.05 * tickets)
            for j, (offer, cost) in enumerate(OFFERS.items()):
                uplift = p * (0.1 + 0.05 * j)
                saved = uplift * 500.0
                rows.append(
                    {
                        "customer_id": r["customer_id"],
                        "offer": offer,
                        "p_before": p,
                        "p_after": p - uplift,
                        "uplift": uplift,
                        "uplift_low": uplift * 0.5,
                        "uplift_high": uplift * 1.5,
                        "expected_saved_value": saved,
                        "cost": cost,
                        "net_value": saved - cost,
                        "benefit_cost_ratio": saved / cost,
                    }
                )
        out = pd.DataFrame(rows)
        out["rank"] = out.groupby("customer_id")["net_value"].rank(ascending=False, method="first").astype(int)
        return out

    def explain(self, features: pd.DataFrame) -> list[dict]:
        return [
            {
                "customer_id": r["customer_id"],
                "changes": [{"feature": "contract", "old": r.get("contract"), "new": "two_year"}],
                "new_probability": 0.05,
            }
            for _, r in features.iterrows()
        ]


def load_part(part_dir: Path) -> StubInterventions:
    return StubInterventions()


def noise(customer_ids) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per customer id (no information about churn)."""
    return np.array([int(hashlib.sha256(str(c).encode()).hexdigest()[:8], 16) / 2**32 for c in customer_ids])


class NoisyChallenger:
    """A deliberately worse challenger (order 90, after every real part): half of its churn_probability
    is noise, so its ROC AUC is clearly below the champion's on the same customers."""

    def score_columns(self, cols, n, scores):
        out = dict(scores)
        out["churn_probability"] = 0.5 * np.asarray(scores["churn_probability"], float) + 0.5 * noise(
            cols["customer_id"]
        )
        return out


def load_noisy_part(part_dir: Path) -> NoisyChallenger:
    return NoisyChallenger()
