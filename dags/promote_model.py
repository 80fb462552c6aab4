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

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param
from churnguard_env import PYTHON_BIN, REPO, task_env

ENV = task_env()

with DAG(
    dag_id="promote_model",
    description="quality gates + fair comparison, then alias champion -> version, who/why tags",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    tags=["churnguard", "registry"],
    doc_md=__doc__,
    params={
        "version": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Model version",
            description="version of the registered model (params register.model_name); empty: the newest version",
        ),
        "why": Param(
            "promoted from the Airflow form",
            type="string",
            minLength=3,
            title="Why",
            description="recorded as tag promotion_reason",
        ),
        "who": Param(
            None,
            type=["null", "string"],
            title="Who (optional)",
            description="recorded as tag promoted_by; empty: the user who triggered the run",
        ),
        "features": Param(
            None,
            type=["null", "string"],
            title="Holdout features (optional)",
            description="features parquet for the fair comparison; "
            "empty: data/features/customers.parquet of CHURNGUARD_HOME",
        ),
    },
) as dag:
    BashOperator(
        task_id="promote",
        bash_command=(
            f'"{PYTHON_BIN}/churnguard" promote --version "$CG_VERSION" --who "$CG_WHO" --why "$CG_WHY"'
            ' ${CG_FEATURES:+--features "$CG_FEATURES"}'
        ),
        env={
            **ENV,
            "CG_VERSION": "{{ params.version or 'latest' }}",
            "CG_WHY": "{{ params.why }}",
            "CG_WHO": "{{ params.who or (dag_run.triggering_user_name if dag_run.triggering_user_name is defined"
            " and dag_run.triggering_user_name else 'airflow') }}",
            "CG_FEATURES": "{{ params.features or '' }}",
        },
        append_env=True,
        cwd=str(REPO),
        skip_on_exit_code=None,
    )
