"""`churnguard monitor`: one nightly monitoring cycle of the champion (docs/monitoring.md).

Reads snapshots in the month layout ``DATA/month_MM/raw`` (the moving world writes it; a production
export of each night's customers, events and referrals can follow it) and the champion's training
rows (``--reference``, default the workspace's data/features/customers.parquet, train split). Writes
``OUT/monitor.json`` (the decision: ``retrain`` and its reasons), ``OUT/metrics.prom`` (Prometheus text
format, for the node-exporter textfile collector) and ``OUT/report.html`` (self-contained), and logs
the gauges and every feature's PSI to MLflow (experiment ``churnguard-monitoring``). Exit 0 whatever
the decision; 2 when an input is missing or params ``monitor`` is malformed. Used by dags/monitor.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import pandas as pd

    from churnguard.monitoring.config import MonitorConfig
    from churnguard.monitoring.decision import MonitorResult
    from churnguard.monitoring.monitor import Cohort

EXPERIMENT = "churnguard-monitoring"


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


@dataclass(frozen=True)
class Inputs:
    """What one cycle reads, checked before anything heavy loads."""

    data: Path
    month: int
    available: tuple[int, ...]
    reference: Path
    model_uri: str
    out: Path


def _fail(message: str) -> int:
    print(f"monitor: {message}", file=sys.stderr)
    return 2


def resolve_inputs(args: argparse.Namespace, register: dict[str, Any]) -> Inputs | str:
    """The cycle's inputs, or the message naming the missing one."""
    from churnguard.core.config import PATHS
    from churnguard.monitoring import data

    available = data.months(args.data)
    if not available:
        return f"--data {args.data}: no month_MM/raw snapshot there"
    month = available[-1] if args.month is None else args.month
    if month not in available:
        return f"--month {month}: not among the snapshots {available}"
    reference = args.reference or PATHS.features / "customers.parquet"
    if not reference.exists():
        return f"--reference {reference} does not exist (the champion's training features)"
    model_uri = args.model_uri or f"models:/{register['model_name']}@{register['alias']}"
    return Inputs(args.data, month, tuple(available), reference, model_uri, args.out or PATHS.reports / "monitor")


def run(args: argparse.Namespace) -> int:
    from churnguard.core.config import ConfigError, load_params
    from churnguard.mlops.registry import load_bundle
    from churnguard.monitoring.config import monitor_config
    from churnguard.monitoring.monitor import run_cycle

    params = load_params()
    try:
        cfg = monitor_config(params.get("monitor"))
    except ConfigError as exc:
        return _fail(f"params.yaml: {exc}")
    inputs = resolve_inputs(args, params["register"])
    if isinstance(inputs, str):
        return _fail(inputs)
    try:
        bundle = load_bundle(inputs.model_uri)
    except Exception as exc:  # MlflowException (unknown version/alias, missing artifacts), broken part
        return _fail(f"--model-uri {inputs.model_uri}: cannot load the model ({type(exc).__name__}: {exc})")

    def score(frame: pd.DataFrame) -> np.ndarray:
        return bundle.predict(frame)["churn_probability"].to_numpy()

    reference, reference_auc, numeric, categorical = reference_cohort(inputs.reference, score)
    current, previous, matured = cohorts(inputs, params, score)
    result = run_cycle(reference, current, previous, matured, numeric, categorical, cfg, reference_auc, inputs.month)
    write_outputs(inputs, result, reference, current, cfg)
    if not args.no_mlflow:
        log_mlflow(result, inputs)
    print(
        f"monitor month {inputs.month} ({inputs.model_uri}): {'RETRAIN' if result.retrain else 'hold'}"
        + ("" if not result.reasons else " - " + "; ".join(result.reasons))
    )
    return 0


def reference_cohort(
    path: Path, score: Callable[[pd.DataFrame], np.ndarray]
) -> tuple[Cohort, float | None, list[str], list[str]]:
    """The champion's training rows (scored), its holdout ROC AUC, and the feature schema."""
    import pandas as pd

    from churnguard.core.vocabulary import LABEL, SPLIT
    from churnguard.monitoring.monitor import Cohort
    from churnguard.monitoring.performance import realised_roc_auc

    table = pd.read_parquet(path)
    rows = table[table[SPLIT] == "train"] if SPLIT in table else table
    holdout = table[table[SPLIT] == "holdout"] if SPLIT in table else table.iloc[:0]
    auc = realised_roc_auc(holdout[LABEL].to_numpy(), score(holdout)) if len(holdout) else None
    return (Cohort(rows, score(rows)), auc, *_schema(path, rows))


def cohorts(
    inputs: Inputs, params: dict[str, Any], score: Callable[[pd.DataFrame], np.ndarray]
) -> tuple[Cohort, Cohort | None, Cohort | None]:
    """Tonight's snapshot, last month's (its first-month churners known), the newest matured one."""
    from churnguard.core.vocabulary import ID, LABEL
    from churnguard.monitoring import data
    from churnguard.monitoring.monitor import Cohort
    from churnguard.world.timeline import LABEL_MONTHS

    def cohort(m: int, with_labels: bool = False) -> Cohort | None:
        if m not in inputs.available:
            return None
        table = data.features(inputs.data, m, params["data"], params["features"])
        churned = data.churned_next_month(inputs.data, m, table[ID])
        return Cohort(table, score(table), churned, table[LABEL].to_numpy() if with_labels else None)

    current = cohort(inputs.month)
    assert current is not None  # resolve_inputs checked the month is there
    return current, cohort(inputs.month - 1), cohort(inputs.month - LABEL_MONTHS, with_labels=True)


def _schema(reference_path: Path, rows: pd.DataFrame) -> tuple[list[str], list[str]]:
    from churnguard.features.table import NON_FEATURES, FeatureSchema

    schema_file = reference_path.parent / "schema.json"
    if schema_file.exists():
        schema = FeatureSchema.load(schema_file)
        return schema.numeric, schema.categorical
    feats = [c for c in rows.columns if c not in NON_FEATURES]
    categorical = [c for c in feats if rows[c].dtype == object]
    return [c for c in feats if c not in categorical], categorical


def decision_record(result: MonitorResult, inputs: Inputs) -> dict[str, Any]:
    """monitor.json: the decision the DAG's gate reads, with every test behind it."""
    return {
        "month": inputs.month,
        "model_uri": inputs.model_uri,
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


def write_outputs(
    inputs: Inputs, result: MonitorResult, reference: Cohort, current: Cohort, cfg: MonitorConfig
) -> None:
    from churnguard.monitoring import decision, report

    out = inputs.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "monitor.json").write_text(json.dumps(decision_record(result, inputs), indent=2, default=str))
    (out / "metrics.prom").write_text(decision.prometheus_text(result, {"model": inputs.model_uri}))
    title = f"churnguard monitoring, month {inputs.month}"
    (out / "report.html").write_text(report.render(result, reference.scores, current.scores, cfg.drift.min_psi, title))


def log_mlflow(result: MonitorResult, inputs: Inputs) -> None:
    """One run per cycle: the gauges, each feature's PSI (``psi.<feature>``), the outputs as artifacts."""
    import math

    import mlflow
    from churnguard.mlops.registry import artifact_root, configure

    configure()
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=artifact_root())
    mlflow.set_experiment(EXPERIMENT)
    metrics = {k: v for k, v in result.gauges().items() if not math.isnan(v)}
    metrics.update({f"psi.{f.feature}": f.psi for f in [*result.features, result.prediction]})
    with mlflow.start_run(run_name=f"monitor-month{inputs.month:02d}"):
        mlflow.set_tags({"model_uri": inputs.model_uri, "retrain": str(result.retrain), "month": str(inputs.month)})
        mlflow.log_metrics(metrics, step=inputs.month)
        mlflow.log_artifacts(str(inputs.out), artifact_path="monitor")
