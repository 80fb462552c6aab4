"""Training DAG: one task per DVC stage of dvc.yaml, in file order, in a per-run workspace.

Thin wiring only (docs/architecture.md): every task is a subprocess of the *project's* interpreter
(Airflow has its own environment, docs/stack.md), so nothing heavy is imported here.

* ``prepare_workspace`` snapshots the code and dvc.yaml into ``$CHURNGUARD_RUNS_DIR/<run_id>``
  and writes that workspace's params.yaml = repository params + this run's trigger params
  (source, csv_path, customers, seed, overrides). The committed params.yaml is never edited,
  so one run's size or seed cannot leak into another run or into the main workspace.
* one task per stage runs ``dvc repro --single-item <stage>`` in that workspace. The tasks are
  chained, and each run has its own workspace (its own DVC lock), so two DVC commands never run
  at once in one workspace; ``max_active_runs=1`` keeps the 2-core machine from training twice.
* idempotent: the workspace is keyed on the run id; clearing a task reruns ``dvc repro`` on
  the same workspace, which skips stages whose deps and params did not change (no second
  MLflow version from a rerun ``register``).

A new stage in dvc.yaml becomes a task with no edit here (the stage list is read from
dvc.yaml at parse time with a plain YAML load).

Configuration (environment of the Airflow processes; defaults in brackets):
``CHURNGUARD_REPO`` [the folder above dags/], ``CHURNGUARD_PYTHON_BIN`` [<repo>/.venv/bin],
``CHURNGUARD_RUNS_DIR`` [<repo>/.run/training], ``MLFLOW_TRACKING_URI`` [sqlite <repo>/mlflow/mlflow.db],
``CHURNGUARD_ARTIFACT_ROOT`` [<repo>/mlflow/artifacts].
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param, chain

REPO = Path(os.environ.get("CHURNGUARD_REPO") or Path(__file__).resolve().parents[1])
PYTHON_BIN = Path(os.environ.get("CHURNGUARD_PYTHON_BIN") or REPO / ".venv" / "bin")
RUNS_DIR = Path(os.environ.get("CHURNGUARD_RUNS_DIR") or REPO / ".run" / "training")
MLFLOW_URI = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{REPO / 'mlflow' / 'mlflow.db'}"
ARTIFACT_ROOT = os.environ.get("CHURNGUARD_ARTIFACT_ROOT") or (REPO / "mlflow" / "artifacts").as_uri()


def dvc_stages(dvc_yaml: Path = REPO / "dvc.yaml") -> list[str]:
    """Stage names in dvc.yaml order (the file lists them in dependency order)."""
    with open(dvc_yaml) as fh:
        return list((yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}).get("stages") or {})


def task_id(stage: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stage)


STAGES = dvc_stages()

# Every task: the project's interpreter first on PATH (dvc.yaml says `python -m ...`).
ENV = {
    "PATH": f"{PYTHON_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    "MLFLOW_TRACKING_URI": MLFLOW_URI,
    "CHURNGUARD_ARTIFACT_ROOT": ARTIFACT_ROOT,
}

with DAG(
    dag_id="churn_training",
    description="DVC pipeline (dvc.yaml), one task per stage, registers a model version in MLflow",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    tags=["churnguard", "training"],
    doc_md=__doc__,
    params={
        "source": Param("synthetic", enum=["synthetic", "csv"], title="Data source",
                        description="synthetic world, or your Telco-style CSV (set csv_path)"),
        "csv_path": Param("", type="string", title="CSV path",
                          description="source=csv: the CSV (absolute, or relative to the repository)"),
        "customers": Param(None, type=["null", "integer"], minimum=100, title="Size (world.customers)",
                           description="synthetic world size; empty: params.yaml"),
        "seed": Param(None, type=["null", "integer"], minimum=0, title="Seed (data.seed)",
                      description="empty: params.yaml"),
        "overrides": Param({}, type="object", title="Other params.yaml overrides",
                           description='nested or dotted keys, e.g. {"train_base.cv_folds": 2}'),
    },
) as dag:
    prepare = BashOperator(
        task_id="prepare_workspace",
        bash_command=(f'"{PYTHON_BIN}/python" -m components.orchestration prepare --repo "{REPO}" '
                      f'--runs-dir "{RUNS_DIR}" --run-id "$CG_RUN_ID"'),
        env={**ENV, "CG_RUN_ID": "{{ run_id }}", "CG_RUN_PARAMS": "{{ params | tojson }}",
             "CG_EXPECTED_STAGES": ",".join(STAGES)},  # fails clearly if dvc.yaml changed since parsing
        append_env=True,
        cwd=str(REPO),
        skip_on_exit_code=None,
    )
    stages = [
        BashOperator(
            task_id=task_id(stage),
            bash_command=f'cd "$CHURNGUARD_HOME" && exec "{PYTHON_BIN}/dvc" repro --single-item "{stage}"',
            env={**ENV, "CHURNGUARD_HOME": "{{ ti.xcom_pull(task_ids='prepare_workspace') }}"},
            append_env=True,
            do_xcom_push=False,
            skip_on_exit_code=None,
        )
        for stage in STAGES
    ]
    chain(prepare, *stages)
