"""Stage `sweep`: every scenario x every customer (sharded), the budget allocation, the nightly
HTML report, and the holdout evaluation against the truth.

Reads params: sweep. Writes data/sweep/ (shard-*.parquet, allocation.parquet, summary.json),
reports/interventions.html and metrics/interventions.json.
"""
from __future__ import annotations

import json
import shutil
import time

import pandas as pd

from components.config import PATHS, load_params
from components.interventions.evaluation import evaluate_policies
from components.interventions.part import load_part
from components.interventions.report import build_report, log_to_mlflow
from components.skips import skipped, write_skipped_metrics
from components.interventions.sweep import (allocate_sweep, budget_for, read_sweep, run_shard, summarise,
                                            write_summary)


def main() -> None:
    cfg = load_params()["sweep"]
    t0 = time.perf_counter()
    out_dir = PATHS.root / "data" / "sweep"
    reason = skipped(PATHS.models / "interventions")
    if reason:
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
        write_skipped_metrics(PATHS.metrics / "interventions.json", reason)
        report = PATHS.reports / "interventions.html"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(f"<html><body><h1>No scenario report</h1><p>{reason}</p></body></html>\n")
        print(f"skipped sweep: {reason}")
        return
    part = load_part(PATHS.models / "interventions")
    features = pd.read_parquet(PATHS.features / "customers.parquet")
    shutil.rmtree(out_dir, ignore_errors=True)
    shards = int(cfg["shards"])
    for shard in range(shards):
        run_shard(part, features, shard, shards, out_dir, int(cfg.get("chunk_rows", 200_000)))
    t_sweep = time.perf_counter() - t0
    table = read_sweep(out_dir)
    budget = budget_for(table["customer_id"].nunique(), cfg)
    alloc = allocate_sweep(table, cfg, budget=budget)
    alloc.to_parquet(out_dir / "allocation.parquet", index=False)
    summary = summarise(table, alloc, budget)
    write_summary(out_dir / "summary.json", summary)
    report = PATHS.reports / "interventions.html"
    build_report(out_dir, cfg, str(cfg["report_date"]), report)
    logged = log_to_mlflow(report, summary, str(cfg["report_date"]))
    t_report = time.perf_counter() - t0 - t_sweep
    evaluation = evaluate_policies(table, PATHS.truth, cfg, int(cfg["seed"]))
    cf = json.loads((PATHS.models / "interventions" / "cf_metrics.json").read_text())
    metrics = {"policy": evaluation, "counterfactual": cf["counterfactual"],
               "sweep": {k: summary[k] for k in ("customers", "budget", "spent", "expected_net_value",
                                                  "customers_treated", "offers_given")},
               "seconds": {"sweep": round(t_sweep, 2), "allocation_and_report": round(t_report, 2),
                           "total": round(time.perf_counter() - t0, 2)}}
    PATHS.metrics.mkdir(parents=True, exist_ok=True)
    (PATHS.metrics / "interventions.json").write_text(json.dumps(metrics, indent=2, default=float))
    print(f"sweep: {summary['customers']} customers x {len(summary['scenarios'])} scenarios in {shards} shards, "
          f"{t_sweep:.1f} s; plan: {summary['customers_treated']} offers, spent {summary['spent']:.0f} of "
          f"{summary['budget']:.0f}, expected net value {summary['expected_net_value']:.0f}")
    print(f"report: {report.relative_to(PATHS.root)}" + (" (logged to MLflow)" if logged else ""))
    if "policy_value" in evaluation:
        pv, r = evaluation["policy_value"], evaluation["ratio_to_oracle"]
        print("holdout policy value at the same budget (true effects): " +
              ", ".join(f"{k} {v:,.0f} ({r[k]:.1%} of oracle)" for k, v in pv.items()))


if __name__ == "__main__":
    main()
