"""Stage `sweep`: every scenario x every customer (sharded), the plan that ships, the nightly report.

Observable data only: the candidate plans are checked off-policy on the holdout's randomized campaign
and the uplift plan ships only if the ship rule (params `sweep.ship`) allows; the truth is read by
the next stage, `evaluate_interventions`, never here.

Reads params: sweep. Writes data/sweep/ (shard-*.parquet, allocation.parquet = the shipped plan,
candidate_plans.parquet = every candidate plan on the checked customers, summary.json), reports/interventions.html and
metrics/interventions.json.
"""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pandas as pd

from churnguard.core.config import PATHS, load_params
from churnguard.core.metrics import write_metrics
from churnguard.core.skips import skipped, write_skipped_metrics
from churnguard.core.vocabulary import ID
from churnguard.interventions.config import SweepConfig, sweep_config
from churnguard.interventions.part import load_part
from churnguard.interventions.planning import plan
from churnguard.interventions.report import build_report, log_to_mlflow
from churnguard.interventions.sweep import read_sweep, run_shard, summarise, write_summary

OUT_DIR = PATHS.root / "data" / "sweep"
REPORT = PATHS.reports / "interventions.html"


def write_skipped(reason: str) -> None:
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    OUT_DIR.mkdir(parents=True)
    write_skipped_metrics(PATHS.metrics / "interventions.json", reason)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(f"<html><body><h1>No scenario report</h1><p>{reason}</p></body></html>\n")
    print(f"skipped sweep: {reason}")


def sweep_all_shards(part, cfg: SweepConfig) -> pd.DataFrame:
    features = pd.read_parquet(PATHS.features / "customers.parquet")
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    shards = cfg.shards
    for shard in range(shards):
        run_shard(part, features, shard, shards, OUT_DIR, cfg.chunk_rows)
        print(f"sweep: shard {shard + 1}/{shards} done", flush=True)
    return read_sweep(OUT_DIR)


def main() -> None:
    cfg = sweep_config(load_params()["sweep"])
    t0 = time.perf_counter()
    reason = skipped(PATHS.models / "interventions")
    if reason:
        write_skipped(reason)
        return
    table = sweep_all_shards(load_part(PATHS.models / "interventions"), cfg)
    t_sweep = time.perf_counter() - t0
    result = plan(table, cfg, cfg.seed)
    result.allocation.to_parquet(OUT_DIR / "allocation.parquet", index=False)
    candidates = pd.DataFrame({ID: result.checked_ids})
    offers = np.asarray([*sorted(table["offer"].unique()), "none"], dtype=object)
    for name, choice in result.checked_plans.items():
        candidates[name] = offers[choice]  # NONE (-1) picks "none"
    candidates.to_parquet(OUT_DIR / "candidate_plans.parquet", index=False)
    summary = {**summarise(table, result.allocation, result.budget), **result.summary()}
    write_summary(OUT_DIR / "summary.json", summary)
    summary = build_report(table, result, cfg, cfg.report_date, REPORT)
    logged = log_to_mlflow(REPORT, summary, cfg.report_date)
    cf = json.loads((PATHS.models / "interventions" / "cf_metrics.json").read_text())
    metrics = {
        "plan": result.summary(),
        "counterfactual": cf["counterfactual"],
        "sweep": {
            k: summary[k]
            for k in ("customers", "budget", "spent", "expected_net_value", "customers_treated", "offers_given")
        },
    }
    write_metrics(PATHS.metrics / "interventions.json", metrics)
    print(
        f"sweep: {summary['customers']} customers x {len(summary['scenarios'])} scenarios in {cfg.shards} "
        f"shards, {t_sweep:.1f} s; shipped {result.decision.shipped}: {summary['customers_treated']} offers, "
        f"spent {summary['spent']:.0f} of {summary['budget']:.0f}"
    )
    print(f"why: {result.decision.reason}")
    print(
        f"report: {REPORT.relative_to(PATHS.root)}"
        + (" (logged to MLflow)" if logged else "")
        + f"; {time.perf_counter() - t0:.1f} s in all"
    )


if __name__ == "__main__":
    main()
