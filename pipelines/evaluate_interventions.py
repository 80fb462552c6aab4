"""Stage `evaluate_interventions`: the offer plans against the synthetic world's truth (evaluation only).

Values every candidate plan the sweep built and checked (and the one it shipped) with the true
offer effects, beside the oracle, and checks the sweep's off-policy intervals against the true values.

Reads no params (the plans and budget come from data/sweep).
Writes metrics/evaluate_interventions.json.
"""

from __future__ import annotations

import json

import pandas as pd

from churnguard.core.config import PATHS
from churnguard.core.metrics import write_metrics
from churnguard.core.skips import skipped, write_skipped_metrics
from churnguard.core.truth import has_truth, load_truth
from churnguard.interventions.evaluation import evaluate_policies
from churnguard.interventions.sweep import read_sweep

SWEEP = PATHS.root / "data" / "sweep"
OUT = PATHS.metrics / "evaluate_interventions.json"


def main() -> None:
    reason = skipped(PATHS.models / "interventions")
    if reason or not has_truth(PATHS.truth):
        write_skipped_metrics(
            OUT,
            reason
            or "no ground truth for this data source: plans cannot be valued "
            "against the truth (the sweep's off-policy estimates still stand)",
        )
        print(f"skipped evaluate_interventions: {reason or 'no ground truth'}")
        return
    table = read_sweep(SWEEP)
    offers = sorted(table["offer"].unique())
    truth = load_truth(PATHS.truth, ["customer_id", *[f"effect_{o}" for o in offers]])
    planning = json.loads((SWEEP / "summary.json").read_text())
    evaluation = evaluate_policies(table, truth, pd.read_parquet(SWEEP / "candidate_plans.parquet"), planning)
    write_metrics(OUT, {"policy": evaluation})
    r, ope = evaluation["ratio_to_oracle"], evaluation["off_policy"]
    print(
        f"value on the {evaluation['checked_on']} customers at the same budget (true effects), % of oracle: shipped ({evaluation['shipped_policy']}) "
        f"{r['shipped']:.1%}, uplift plan {r['uplift_plan']:.1%}, risk-based {r['risk_based']:.1%}, "
        f"random {r['random']:.1%}"
    )
    if "coverage" in ope:
        print(
            f"off-policy intervals hold the true value for {ope['coverage']:.0%} of {ope['plans_checked']} plans; "
            f"mean error {ope['mean_abs_error_over_oracle']:.1%} of the oracle's value"
        )


if __name__ == "__main__":
    main()
