"""Promotion DAG (manual): make a registered model version the champion, through the quality gates.

Runs ``churnguard promote --version V --who W --why TEXT`` in the project's interpreter
(components/cli/promote.py): the gates of params ``register.gates`` on the version's logged
metrics, a fair comparison with the current champion (both rescored on the same holdout rows),
then alias ``champion`` moves and who/why are recorded as version tags. A refused promotion
fails the task, and its log names the reason. Promoting the current champion again is a no-op
that succeeds (idempotent).

Param values reach the command through environment variables, never pasted into the shell line.
"""

from __future__ import annotations

from airflow.sdk import Param
from churnguard_dag import churnguard_dag, optional_param, project_task
from churnguard_env import PYTHON_BIN

with churnguard_dag(
    "promote_model",
    "quality gates + fair comparison, then alias champion -> version, who/why tags",
    "registry",
    __doc__,
    params={
        "version": optional_param(
            "integer",
            "Model version",
            "version of the registered model (params register.model_name); empty: the newest version",
            minimum=1,
        ),
        "why": Param(
            "promoted from the Airflow form",
            type="string",
            minLength=3,
            title="Why",
            description="recorded as tag promotion_reason",
        ),
        "who": optional_param(
            "string", "Who (optional)", "recorded as tag promoted_by; empty: the user who triggered the run"
        ),
        "features": optional_param(
            "string",
            "Holdout features (optional)",
            "features parquet for the fair comparison; empty: data/features/customers.parquet of CHURNGUARD_HOME",
        ),
    },
) as dag:
    project_task(
        "promote",
        f'"{PYTHON_BIN}/churnguard" promote --version "$CG_VERSION" --who "$CG_WHO" --why "$CG_WHY"'
        ' ${CG_FEATURES:+--features "$CG_FEATURES"}',
        env={
            "CG_VERSION": "{{ params.version or 'latest' }}",
            "CG_WHY": "{{ params.why }}",
            "CG_WHO": "{{ params.who or (dag_run.triggering_user_name if dag_run.triggering_user_name is defined"
            " and dag_run.triggering_user_name else 'airflow') }}",
            "CG_FEATURES": "{{ params.features or '' }}",
        },
    )
