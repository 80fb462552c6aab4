"""`churnguard monitor`: one nightly monitoring cycle of the champion (docs/monitoring.md).

Reads snapshots in the month layout ``DATA/month_MM/raw`` (the moving world writes it; a production
export of each night's customers, events and referrals can follow it) and the champion's training
rows (``--reference``, default the workspace's data/features/customers.parquet, train split). Writes
``OUT/monitor.json`` (the decision: ``retrain`` and its reasons), ``OUT/metrics.prom`` (Prometheus text
format, for the node-exporter textfile collector) and ``OUT/report.html`` (self-contained), and logs
the gauges to MLflow (experiment ``churnguard-monitoring``). Exit 0 whatever the decision; 2 when an
input is missing. Used by dags/monitor.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="folder with month_MM/raw snapshots")
    parser.add_argument("--month", type=int, default=None, help="snapshot to monitor (default: the newest)")
    parser.add_argument(
        "--model-uri", default=None, help="default: models:/<register.model_name>@<register.alias> (the champion)"
    )
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="the model's training features parquet (default: data/features/customers.parquet)",
    )
    parser.add_argument("--out", type=Path, default=None, help="default: reports/monitor of the workspace")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log the gauges to MLflow")


def _fail(message: str) -> int:
    print(f"monitor: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from churnguard.core.config import PATHS, load_params
    from churnguard.core.vocabulary import LABEL, SPLIT
    from churnguard.mlops.registry import load_bundle
    from churnguard.monitoring import data, decision, report
    from churnguard.monitoring.monitor import Cohort, run_cycle

    params = load_params()
    cfg, reg = params["monitor"], params["register"]
    available = data.months(args.data)
    if not available:
        return _fail(f"--data {args.data}: no month_MM/raw snapshot there")
    month = available[-1] if args.month is None else args.month
    if month not in available:
        return _fail(f"--month {month}: not among the snapshots {available}")
    reference_path = args.reference or PATHS.features / "customers.parquet"
    if not reference_path.exists():
        return _fail(f"--reference {reference_path} does not exist (the champion's training features)")
    model_uri = args.model_uri or f"models:/{reg['model_name']}@{reg['alias']}"
    bundle = load_bundle(model_uri)

    def score(frame: pd.DataFrame):
        return bundle.predict(frame)["churn_probability"].to_numpy()

    ref_table = pd.read_parquet(reference_path)
    ref_rows = ref_table[ref_table[SPLIT] == "train"] if SPLIT in ref_table else ref_table
    numeric, categorical = _schema(reference_path, ref_rows)
    reference = Cohort(ref_rows, score(ref_rows))
    holdout = ref_table[ref_table[SPLIT] == "holdout"] if SPLIT in ref_table else None
    from churnguard.monitoring.performance import realised_roc_auc

    reference_auc = (
        realised_roc_auc(holdout[LABEL].to_numpy(), score(holdout)) if holdout is not None and len(holdout) else None
    )

    def cohort(m: int, with_labels: bool = False) -> Cohort | None:
        if m not in available:
            return None
        table = data.features(args.data, m, params["data"], params["features"])
        return Cohort(
            table,
            score(table),
            data.churned_next_month(args.data, m, table["customer_id"]),
            table[LABEL].to_numpy() if with_labels else None,
        )

    current = cohort(month)
    result = run_cycle(
        reference,
        current,
        cohort(month - 1),
        cohort(month - 2, with_labels=True),
        numeric,
        categorical,
        cfg,
        reference_auc,
        month,
    )
    out = args.out or PATHS.reports / "monitor"
    _write(out, result, reference, current, cfg, model_uri, month, decision, report)
    if not args.no_mlflow:
        _log_mlflow(result, out, model_uri, month)
    print(
        f"monitor month {month} ({model_uri}): {'RETRAIN' if result.retrain else 'hold'}"
        + ("" if not result.reasons else " - " + "; ".join(result.reasons))
    )
    return 0


def _schema(reference_path: Path, rows) -> tuple[list[str], list[str]]:
    from churnguard.features.table import NON_FEATURES, FeatureSchema

    schema_file = reference_path.parent / "schema.json"
    if schema_file.exists():
        schema = FeatureSchema.load(schema_file)
        return schema.numeric, schema.categorical
    feats = [c for c in rows.columns if c not in NON_FEATURES]
    categorical = [c for c in feats if rows[c].dtype == object]
    return [c for c in feats if c not in categorical], categorical


def _write(out: Path, result, reference, current, cfg, model_uri, month, decision, report) -> None:
    from dataclasses import asdict

    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "month": month,
        "model_uri": model_uri,
        "retrain": result.retrain,
        "reasons": result.reasons,
        "drift_alarm": result.drift_alarm,
        "performance_alarm": result.performance_alarm,
        "features_alarmed": result.features_alarmed,
        "gauges": result.gauges(),
        "features": [asdict(f) for f in result.features],
        "prediction": asdict(result.prediction),
        "early_outcomes": [asdict(s) for s in result.early_outcomes],
        "realised_estimate": result.realised_estimate,
    }
    (out / "monitor.json").write_text(json.dumps(payload, indent=2, default=str))
    (out / "metrics.prom").write_text(decision.prometheus_text(result, {"model": model_uri}))
    (out / "report.html").write_text(
        report.render(
            result,
            reference.scores,
            current.scores,
            float(cfg["drift"]["min_psi"]),
            f"churnguard monitoring, month {month}",
        )
    )


def _log_mlflow(result, out: Path, model_uri: str, month: int) -> None:
    import math

    import mlflow
    from churnguard.mlops.registry import artifact_root, configure

    configure()
    if mlflow.get_experiment_by_name("churnguard-monitoring") is None:
        mlflow.create_experiment("churnguard-monitoring", artifact_location=artifact_root())
    mlflow.set_experiment("churnguard-monitoring")
    with mlflow.start_run(run_name=f"monitor-month{month:02d}"):
        mlflow.set_tags({"model_uri": model_uri, "retrain": str(result.retrain)})
        mlflow.log_metrics({k: v for k, v in result.gauges().items() if not math.isnan(v)})
        mlflow.log_artifacts(str(out), artifact_path="monitor")
