"""The protected decision: who may receive a retention offer.

A customer is offered when the decision score reaches the offer threshold **and** the
detectors' verdict is ``clean``. The score (params ``harden.decision.score``):

* ``gate`` (shipped): ``min(base margin, hardened margin)``, each model's logit minus its own
  offer threshold. An offer needs both models: the base model's accuracy on clean customers
  and the certified hardened model's bounded response to manipulation. Because the base
  model must agree, the protected decision cannot offer loud, implausible behaviour that the
  base model learnt to distrust (the monotone hardened model cannot turn down there);
* ``base`` / ``hardened``: one model's margin alone (for the frontier beside it).

The threshold fills the offer budget: it is set on training customers so that the top
``offer_share`` of all customers are offered after the veto, so customers held back by the
detectors hand their offers to the next ones instead of shrinking the programme.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from churnguard.core.numeric import logit

CLIP = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(np.asarray(p, dtype=float), CLIP, 1 - CLIP))


@dataclass(frozen=True)
class ProtectedDecision:
    kind: str  # gate | base | hardened
    base_logit: float  # the base model's own offer threshold (logit)
    hardened_logit: float  # the hardened model's own offer threshold (logit)
    threshold: float  # on the decision score, filling the budget after the veto

    def score(self, base_probability: np.ndarray, hardened_probability: np.ndarray) -> np.ndarray:
        """Decision score (higher = more deserving of an offer); an offer needs ``>= threshold``."""
        margin_b = _logit(base_probability) - self.base_logit
        margin_h = _logit(hardened_probability) - self.hardened_logit
        if self.kind == "base":
            return margin_b
        if self.kind == "hardened":
            return margin_h
        return np.minimum(margin_b, margin_h)

    def offer(self, base_probability: np.ndarray, hardened_probability: np.ndarray, verdict: np.ndarray) -> np.ndarray:
        return (self.score(base_probability, hardened_probability) >= self.threshold) & (np.asarray(verdict) == "clean")

    @classmethod
    def fit(
        cls, kind: str, base_p: np.ndarray, hard_p: np.ndarray, clean: np.ndarray, share: float
    ) -> ProtectedDecision:
        """Thresholds from training customers: each model's top ``share``, then the decision
        score's threshold so that ``share`` of all of them are offered once the veto applies."""
        clean = np.asarray(clean, bool)
        t_b, t_h = float(np.quantile(_logit(base_p), 1 - share)), float(np.quantile(_logit(hard_p), 1 - share))
        draft = cls(kind, t_b, t_h, 0.0)
        s = draft.score(base_p, hard_p)[clean]
        keep = min(1.0, share / max(clean.mean(), 1e-9))
        return cls(kind, t_b, t_h, float(np.quantile(s, 1 - keep)) if len(s) else 0.0)
