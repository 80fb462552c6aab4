"""Monitor DAG (nightly): watch the champion, and retrain on evidence into the `challenger` alias.

1. ``monitor``: ``churnguard monitor --data <snapshots> --out <dir>`` in the project's interpreter
   (components/cli/monitor.py): drift with Benjamini-Hochberg control, estimated and realised
   ROC AUC, early outcomes, gauges to ``metrics.prom`` and MLflow, ``report.html``, ``monitor.json``.
2. ``retrain_needed``: continues only when ``monitor.json`` says ``retrain`` (thresholds: params
   ``monitor``); otherwise the run ends green with the rest skipped.
3. ``trigger_training``: triggers ``churn_training`` with ``register.challenger`` set, so the new version
   gets alias ``challenger`` and never ``champion``; ``churnguard promote`` (promote_model DAG) moves
   champion later through the gates, on matured labels (docs/monitoring.md). Which DAG and which
   alias: params.yaml ``monitor.trigger`` (read when the DAG is parsed).

Param values reach the command through environment variables, never pasted into the shell line.
Configuration: dags/churnguard_env.py (CHURNGUARD_HOME is the champion's workspace: its training
features are the drift reference; reports go to $CHURNGUARD_REPORTS_DIR/monitor/<run>).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param
from churnguard_dag import churnguard_dag, object_param, optional_param, project_task
from churnguard_env import PYTHON_BIN, REPO, REPORTS


def trigger_settings(params_file: Path = REPO / "params.yaml") -> tuple[str, str]:
    """(DAG to trigger, alias the retrained version gets) from params ``monitor.trigger``."""
    trigger = yaml.safe_load(params_file.read_text())["monitor"]["trigger"]
    return str(trigger["dag_id"]), str(trigger["alias"])


TRAINING_DAG, CHALLENGER_ALIAS = trigger_settings()


def monitor_dir(run_id: str) -> Path:
    return REPORTS / "monitor" / run_id.replace(":", "_").replace("+", "_")


def challenger_conf(training: dict | None) -> str:
    """The training DAG's conf: the form's ``training`` plus ``register.challenger`` (always), as JSON."""
    conf = dict(training or {})
    conf["overrides"] = {**(conf.get("overrides") or {}), "register.challenger": CHALLENGER_ALIAS}
    return json.dumps(conf)


def retrain_needed(run_id: str) -> bool:
    """The decision `churnguard monitor` wrote (light: a JSON file, nothing heavy imported here)."""
    decision = json.loads((monitor_dir(run_id) / "monitor.json").read_text())
    print(f"retrain={decision['retrain']}: {'; '.join(decision['reasons']) or 'no alarm'}")
    return bool(decision["retrain"])


with churnguard_dag(
    "monitor",
    "nightly drift/performance monitoring of the champion; retrains into alias challenger on evidence",
    "monitoring",
    __doc__,
    schedule="@daily",
    user_defined_filters={"challenger_conf": challenger_conf},
    params={
        "data": Param(
            "data/monitor",
            type="string",
            title="Snapshots folder",
            description="folder with month_MM/raw snapshots (absolute, or relative to CHURNGUARD_HOME)",
        ),
        "month": optional_param("integer", "Snapshot (empty: newest)", minimum=0),
        "model_uri": optional_param(
            "string",
            "Model to monitor (empty: the champion)",
            "e.g. models:/churnguard/3; empty: models:/<register.model_name>@<register.alias>",
        ),
        "training": object_param(
            "churn_training conf on retrain", 'e.g. {"seed": 7, "customers": 20000}; register.challenger is always set'
        ),
    },
) as dag:
    monitor = project_task(
        "monitor",
        f'cd "$CHURNGUARD_HOME" && "{PYTHON_BIN}/churnguard" monitor --data "$CG_DATA" '
        '--out "$CG_OUT" ${CG_MONTH:+--month "$CG_MONTH"} ${CG_MODEL_URI:+--model-uri "$CG_MODEL_URI"}',
        env={
            "CG_DATA": "{{ params.data }}",
            "CG_MONTH": "{{ params.month if params.month is not none else '' }}",
            "CG_MODEL_URI": "{{ params.model_uri or '' }}",
            "CG_OUT": str(REPORTS / "monitor") + "/{{ run_id | replace(':', '_') | replace('+', '_') }}",
        },
        cwd=None,
    )
    gate = ShortCircuitOperator(
        task_id="retrain_needed", python_callable=retrain_needed, op_kwargs={"run_id": "{{ run_id }}"}
    )
    trigger = TriggerDagRunOperator(
        task_id="trigger_training",
        trigger_dag_id=TRAINING_DAG,
        conf="{{ params.training | challenger_conf }}",
        wait_for_completion=False,
    )
    monitor >> gate >> trigger
