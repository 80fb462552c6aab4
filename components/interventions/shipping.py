"""Which plan ships: the uplift plan, unless the campaign's evidence says a simple baseline is better.

Built on observable data only: the candidate plans (:mod:`churnguard.interventions.policies`) are
valued off-policy on the holdout's randomized campaign (:mod:`churnguard.interventions.ope`).

Rules (``sweep.ship.rule``), with ``confidence`` = c:
- ``not_worse`` (default): ship the uplift plan unless, in at least c of the bootstrap replicates, the
  best baseline is worth more. The campaign holdout is small (about 50 treated customers per offer and
  plan at 50k customers), so a rule that demands proof of superiority falls back in many worlds where
  the uplift plan is in truth better; this rule falls back when the data show the plan is worse.
- ``better``: ship the uplift plan only if it beats the best baseline in at least c of the replicates.
Either way the report states both estimates, their intervals and the probability behind the choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from churnguard.interventions.config import ShipConfig
from churnguard.interventions.ope import PlanEstimates
from churnguard.interventions.policies import UPLIFT_PLAN


@dataclass(frozen=True)
class ShipDecision:
    shipped: str
    best_baseline: str
    probability_uplift_better: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "shipped_policy": self.shipped,
            "best_baseline": self.best_baseline,
            "probability_uplift_better": round(self.probability_uplift_better, 4),
            "reason": self.reason,
        }


def choose_plan(est: PlanEstimates, cfg: ShipConfig) -> ShipDecision:
    baselines = [b for b in cfg.baselines if b in est.names]
    best = max(baselines, key=lambda b: est.totals[est.names.index(b)])
    p_better = est.probability_better(UPLIFT_PLAN, best)
    diff, lo, hi = est.difference(UPLIFT_PLAN, best)
    evidence = (
        f"estimated value uplift plan - {best} = {diff:,.0f} ({cfg.level:.0%} interval {lo:,.0f} to "
        f"{hi:,.0f}); the uplift plan is better in {p_better:.0%} of {len(est.replicates)} bootstrap replicates"
    )
    if cfg.rule == "better":
        ship = p_better >= cfg.confidence
        why = (
            f"ships the uplift plan: it beats {best} with confidence >= {cfg.confidence:.0%}"
            if ship
            else f"falls back to {best}: the uplift plan does not beat it with confidence {cfg.confidence:.0%}"
        )
    else:
        ship = (1 - p_better) < cfg.confidence
        why = (
            f"ships the uplift plan: the campaign does not show {best} to be better "
            f"(needs {cfg.confidence:.0%} of replicates)"
            if ship
            else f"falls back to {best}: the campaign shows it better than the uplift plan in "
            f"{1 - p_better:.0%} of replicates (>= {cfg.confidence:.0%})"
        )
    return ShipDecision(UPLIFT_PLAN if ship else best, best, p_better, f"{why}; {evidence}")
