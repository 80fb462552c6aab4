"""Which manipulation pattern a flagged customer shows, and what to do about it.

The detectors' churn-ward deviations per behaviour-view feature (robust units, positive =
looks more like a churner) are summed per pattern (params ``harden.patterns``: groups of
features). The attack type is the pattern with the largest raised deviation,
``combined_churn_faking`` when two or more patterns are clearly raised, and ``risk_hiding``
when the deviations point away from churn (a customer hiding real risk). Clean customers get
``none``. Actions: clean -> serve; suspicious -> serve the score but hold any retention offer;
attack -> manual review before any offer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIONS = {"clean": "serve", "suspicious": "serve_hold_offer", "attack": "manual_review"}


@dataclass
class AttackClassifier:
    patterns: dict[str, list[int]]  # pattern -> positions in the behaviour view
    raised: float  # deviation (robust units, summed per pattern) that counts as raised

    @classmethod
    def fit(cls, names: list[str], patterns: dict[str, list[str]], raised: float) -> AttackClassifier:
        pos = {p: [names.index(c) for c in cols if c in names] for p, cols in patterns.items()}
        return cls({k: v for k, v in pos.items() if v}, float(raised))

    def classify(self, deviations: np.ndarray, verdict: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        names = list(self.patterns)
        if len(deviations) == 0:
            return np.zeros(0, dtype=object), np.zeros(0, dtype=object)
        up = np.stack([np.clip(deviations[:, idx] - 1.0, 0, None).sum(1) for idx in self.patterns.values()], 1)
        down = np.clip(-deviations - 1.0, 0, None).sum(1)
        best = np.asarray(names, dtype=object)[up.argmax(1)]
        kind = np.where((up > self.raised).sum(1) >= 2, "combined_churn_faking", best)
        kind = np.where(down > up.sum(1), "risk_hiding", kind)
        kind = np.where(np.asarray(verdict) == "clean", "none", kind)
        action = np.array([ACTIONS[v] for v in np.asarray(verdict)], dtype=object)
        return kind.astype(object), action
