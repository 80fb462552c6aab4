"""What every churnguard DAG shares: its DAG settings, its project tasks and its optional form fields.

Not a DAG (the DAG processor finds none here); the DAG files ``from churnguard_dag import ...`` (the DAG
folder is on ``sys.path``). Only Airflow's own operators are imported, so parsing stays light.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param
from churnguard_env import REPO, task_env

ENV = task_env()


def churnguard_dag(dag_id: str, description: str, area: str, doc: str | None, **settings: Any) -> DAG:
    """A churnguard DAG: triggered (unless ``schedule`` is given), no catch-up, one run at a time, tagged
    ``churnguard`` and its ``area``, the DAG file's docstring as its documentation."""
    settings.setdefault("schedule", None)
    return DAG(
        dag_id=dag_id,
        description=description,
        catchup=False,
        max_active_runs=1,
        tags=["churnguard", area],
        doc_md=doc,
        **settings,
    )


def project_task(
    task_id: str,
    bash_command: str,
    env: dict[str, str] | None = None,
    operator: type[BashOperator] = BashOperator,
    cwd: str | None = str(REPO),
    **settings: Any,
) -> BashOperator:
    """A task that runs a command of the project's interpreter: every task's environment plus ``env`` (on
    top of the worker's), in the repository by default, any non-zero exit a failure (never a skip)."""
    return operator(
        task_id=task_id,
        bash_command=bash_command,
        env={**ENV, **(env or {})},
        append_env=True,
        cwd=cwd,
        skip_on_exit_code=None,
        **settings,
    )


def optional_param(kind: str, title: str, description: str | None = None, **schema: Any) -> Param:
    """A form field that may stay empty (``None``) and is otherwise of JSON-schema type ``kind``."""
    return Param(None, type=["null", kind], **schema, title=title, description=description)


def object_param(title: str, description: str) -> Param:
    """A form field holding a JSON object of settings (``{}`` by default; null accepted)."""
    return Param({}, type=["object", "null"], title=title, description=description)
