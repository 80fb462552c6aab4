"""Training DAG: one task per DVC stage of dvc.yaml, wired as DVC's own stage graph, in a per-run workspace.

Thin wiring only (docs/architecture.md): every task is a subprocess of the *project's* interpreter
(Airflow has its own environment, docs/stack.md), so nothing heavy is imported here.

* ``prepare_workspace`` snapshots the code and dvc.yaml into ``$CHURNGUARD_RUNS_DIR/<run_id>``
  and writes that workspace's params.yaml = repository params + this run's trigger params
  (source, csv_path, customers, seed, overrides). The committed params.yaml is never edited,
  so one run's size or seed cannot leak into another run or into the main workspace.
* one task per stage runs ``dvc repro --single-item <stage>`` in that workspace. Task edges are
  ``dvc dag``'s edges (stage B after stage A when a dep of B is an output of A), derived from
  dvc.yaml at parse time, so independent branches (cold start, hardening, interventions) run in
  parallel. DVC 3 holds its workspace lock only while it collects and commits a stage, not while
  the command runs: two ``--single-item`` repros of different stages overlap (measured,
  docs/orchestration.md). ``max_active_runs=1`` keeps the 2-core machine from training twice.
* idempotent: the workspace is keyed on the run id; clearing a task reruns ``dvc repro`` on
  the same workspace, which skips stages whose deps and params did not change (no second
  MLflow version from a rerun ``register``).
* the ``register`` task carries links (task page, "Extra links"): the MLflow model version and
  the interventions report of the run.

A new stage in dvc.yaml becomes a task with no edit here.

Configuration (environment of the Airflow processes; defaults in brackets):
those of ``churnguard_env.py``, plus ``CHURNGUARD_RUNS_DIR`` [<repo>/.run/training] and
``CHURNGUARD_MLFLOW_UI`` [http://127.0.0.1:5000].
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import BaseOperatorLink, Param
from churnguard_dag import churnguard_dag, object_param, optional_param, project_task
from churnguard_env import PYTHON_BIN, REPO

RUNS_DIR = Path(os.environ.get("CHURNGUARD_RUNS_DIR") or REPO / ".run" / "training")
MLFLOW_UI = (os.environ.get("CHURNGUARD_MLFLOW_UI") or "http://127.0.0.1:5000").rstrip("/")


def _paths(items) -> list[str]:
    """Paths of a dvc.yaml deps/outs/metrics/plots list (entries are strings or one-key dicts)."""
    out = []
    for item in items or []:
        out.extend([item] if isinstance(item, str) else list(item))
    return [p.rstrip("/") for p in out]


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def stage_graph(dvc_yaml: Path = REPO / "dvc.yaml") -> dict[str, list[str]]:
    """{stage: upstream stages} as DVC builds it: B depends on A when a dep of B overlaps an output of A."""
    with open(dvc_yaml) as fh:
        stages = (yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}).get("stages") or {}
    outs = {name: [p for key in ("outs", "metrics", "plots") for p in _paths(s.get(key))] for name, s in stages.items()}
    return {
        name: [
            up for up in stages if up != name and any(_overlaps(d, o) for d in _paths(s.get("deps")) for o in outs[up])
        ]
        for name, s in stages.items()
    }


def task_id(stage: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stage)


GRAPH = stage_graph()
STAGES = list(GRAPH)


def cpu_share(graph: dict[str, list[str]], cores: int, parallelism: int) -> int:
    """Cores per task: the machine's cores over the tasks that can run at once (the widest level of
    the stage graph, capped by Airflow's parallelism); read by churnguard.core.threads."""
    depth: dict[str, int] = {}
    for stage in graph:  # dvc.yaml lists stages in dependency order
        depth[stage] = 1 + max((depth.get(up, 0) for up in graph[stage]), default=0)
    widest = max((list(depth.values()).count(d) for d in set(depth.values())), default=1)
    return max(1, cores // max(1, min(widest, parallelism)))


# Each stage task's thread pools get its share of the cores (stages of one graph level run at once).
CPU_SHARE = {
    "CHURNGUARD_CPU_SHARE": os.environ.get("CHURNGUARD_CPU_SHARE")
    or str(cpu_share(GRAPH, os.cpu_count() or 1, int(os.environ.get("AIRFLOW__CORE__PARALLELISM") or 32)))
}


def _registration(ti) -> dict:
    """metrics/registration.json of this run's workspace ({} when register has not written it)."""
    workspace = ti.xcom_pull(task_ids="prepare_workspace") if hasattr(ti, "xcom_pull") else None
    path = Path(str(workspace or "")) / "metrics" / "registration.json"
    try:
        return json.loads(path.read_text()) if workspace else {}
    except (OSError, ValueError):
        return {}


class MlflowVersionLink(BaseOperatorLink):
    """The model version this run registered, in the MLflow UI (computed when the task finishes)."""

    name = "MLflow model version"

    def get_link(self, operator, *, ti_key):
        reg = _registration(ti_key)
        return f"{MLFLOW_UI}/#/models/{reg['model']}/versions/{reg['version']}" if reg.get("version") else ""


class ReportLink(BaseOperatorLink):
    """The run's interventions report (a file in the run workspace, readable on the Airflow machine)."""

    name = "Interventions report"

    def get_link(self, operator, *, ti_key):
        workspace = ti_key.xcom_pull(task_ids="prepare_workspace") if hasattr(ti_key, "xcom_pull") else None
        report = Path(str(workspace or "")) / "reports" / "interventions.html"
        return report.as_uri() if workspace and report.is_file() else ""


class RegisterOperator(BashOperator):
    operator_extra_links = (MlflowVersionLink(), ReportLink())


with churnguard_dag(
    "churn_training",
    "DVC pipeline (dvc.yaml) as DVC's stage graph, registers a model version in MLflow",
    "training",
    __doc__,
    params={
        "source": Param(
            "synthetic",
            enum=["synthetic", "csv", "parquet", "sql"],
            title="Data source",
            description="synthetic world; your Telco-style CSV (set csv_path); parquet "
            "(data.parquet.path in overrides) or sql (the workers' CHURNGUARD_SQL_URL and "
            "data.sql.table / data.sql.query in overrides): docs/data_sources.md",
        ),
        "csv_path": optional_param(
            "string",
            "CSV path (source=csv only)",
            "the CSV (absolute, or relative to the repository); leave empty for synthetic",
        ),
        "customers": optional_param(
            "integer", "Size (world.customers)", "synthetic world size; empty: params.yaml", minimum=100
        ),
        "seed": optional_param("integer", "Seed (data.seed)", "empty: params.yaml", minimum=0),
        "overrides": object_param(
            "Other params.yaml overrides (optional)", 'nested or dotted keys, e.g. {"train_base.cv_folds": 2}'
        ),
    },
) as dag:
    prepare = project_task(
        "prepare_workspace",
        f'"{PYTHON_BIN}/python" -m churnguard.mlops.orchestration prepare --repo "{REPO}" '
        f'--runs-dir "{RUNS_DIR}" --run-id "$CG_RUN_ID"',
        env={
            **CPU_SHARE,
            "CG_RUN_ID": "{{ run_id }}",
            "CG_RUN_PARAMS": "{{ params | tojson }}",
            "CG_EXPECTED_STAGES": ",".join(STAGES),
        },  # fails clearly if dvc.yaml changed since parsing
    )
    tasks = {
        stage: project_task(
            task_id(stage),
            f'cd "$CHURNGUARD_HOME" && exec "{PYTHON_BIN}/dvc" repro --single-item "{stage}"',
            env={**CPU_SHARE, "CHURNGUARD_HOME": "{{ ti.xcom_pull(task_ids='prepare_workspace') }}"},
            operator=RegisterOperator if stage == "register" else BashOperator,
            cwd=None,
            do_xcom_push=False,
        )
        for stage in STAGES
    }
    for stage, upstream in GRAPH.items():
        for parent in upstream or [None]:
            (tasks[parent] if parent else prepare) >> tasks[stage]
