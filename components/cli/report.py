"""`churnguard report`: the HTML scenario report from a sweep directory, for a given date.

Deterministic: the same shards, params (budget) and --date give the same bytes.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sweep-dir", type=Path, required=True, help="directory holding shard-*.parquet")
    parser.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    parser.add_argument("--date", required=True, help="report date, YYYY-MM-DD")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log the report to MLflow")


def run(args: argparse.Namespace) -> int:
    from churnguard.core.config import load_params
    from churnguard.interventions.config import sweep_config
    from churnguard.interventions.report import build_report_from_dir, log_to_mlflow

    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.date):
        print(f"--date must be YYYY-MM-DD, got {args.date!r}")
        return 2
    cfg = sweep_config(load_params()["sweep"])
    summary = build_report_from_dir(args.sweep_dir, cfg, args.date, args.out, cfg.seed)
    logged = False if args.no_mlflow else log_to_mlflow(args.out, summary, args.date)
    print(
        f"wrote {args.out}: {summary['customers_treated']} offers, expected net value "
        f"{summary['expected_net_value']:.0f}" + (" (logged to MLflow)" if logged else "")
    )
    return 0
