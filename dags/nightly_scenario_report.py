"""Nightly scenario report: the champion scores every intervention scenario, sharded, then one HTML report.

load_champion -> plan_shards -> sweep[0..N-1] (dynamic task mapping) -> report

* keyed on the run's logical date (``ds``), never on "now": everything lands in
  ``$CHURNGUARD_REPORTS_DIR/nightly/<ds>/`` (``sweep/shard-I.parquet``, ``report.html``).
* idempotent: ``load_champion`` pins the champion version for that date in ``champion.json``
  (a rerun of the same date scores with the same version even if the alias moved since; set
  ``repin`` to resolve the alias again), shards overwrite their own file, stale shards from a
  run with more shards are removed, and ``churnguard report`` is deterministic for the same
  inputs and date. Running a date twice yields the same report bytes.
* scale-out: each shard is one mapped task instance; with CeleryExecutor or KubernetesExecutor
  they spread over workers (docs/orchestration.md). ``max_active_tis_per_dagrun`` bounds how
  many run at once here.

Tasks are subprocesses of the project's interpreter (``CHURNGUARD_PYTHON_BIN``, default
<repo>/.venv/bin); the features the sweep reads are those of ``CHURNGUARD_HOME`` (default: the
repository). ``MLFLOW_TRACKING_URI`` / ``CHURNGUARD_ARTIFACT_ROOT`` as in the training DAG.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import Param, task
from churnguard_dag import ENV, churnguard_dag, project_task
from churnguard_env import PYTHON_BIN, REPO, REPORTS

REPORTS_DIR = REPORTS / "nightly"
DAY_DIR = str(REPORTS_DIR) + "/{{ ds }}"

with churnguard_dag(
    "nightly_scenario_report",
    "champion x intervention scenarios, sharded sweep, HTML report per logical date",
    "report",
    __doc__,
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    params={
        "shards": Param(4, type="integer", minimum=1, maximum=256, title="Sweep shards"),
        "repin": Param(
            False,
            type="boolean",
            title="Resolve the champion alias again",
            description="default: reuse the version pinned for this date, if any",
        ),
    },
) as dag:
    champion = project_task(
        "load_champion",
        f'"{PYTHON_BIN}/python" -m churnguard.mlops.orchestration champion '
        '--pin "$CG_DAY_DIR/champion.json" {{ "--repin" if params.repin else "" }}',
        env={"CG_DAY_DIR": DAY_DIR},
    )

    @task
    def plan_shards(model_uri: str, shards: int | str, day_dir: str) -> list[dict[str, str]]:
        """One env per shard; removes shard files a previous run of this date left beyond N."""
        import re

        shards = int(shards)  # a rendered template arrives as text
        sweep_dir = Path(day_dir) / "sweep"
        sweep_dir.mkdir(parents=True, exist_ok=True)
        for old in sweep_dir.glob("shard-*.parquet"):
            m = re.fullmatch(r"shard-(\d+)\.parquet", old.name)
            if m is None or int(m.group(1)) >= shards:
                old.unlink()
        return [
            {
                **ENV,
                "CG_SHARD": str(i),
                "CG_SHARDS": str(shards),
                "CG_SWEEP_DIR": str(sweep_dir),
                "CG_MODEL_URI": model_uri.strip(),
            }
            for i in range(shards)
        ]

    plan = plan_shards(champion.output, "{{ params.shards }}", DAY_DIR)

    sweep = BashOperator.partial(
        task_id="sweep",
        bash_command=(
            f'"{PYTHON_BIN}/churnguard" sweep --shard "$CG_SHARD" --shards "$CG_SHARDS" '
            '--out "$CG_SWEEP_DIR" --model-uri "$CG_MODEL_URI"'
        ),
        append_env=True,
        cwd=str(REPO),
        do_xcom_push=False,
        skip_on_exit_code=None,
        max_active_tis_per_dagrun=4,
    ).expand(env=plan)

    report = project_task(
        "report",
        f'"{PYTHON_BIN}/churnguard" report --sweep-dir "$CG_DAY_DIR/sweep" '
        '--out "$CG_DAY_DIR/report.html" --date "{{ ds }}" && echo "$CG_DAY_DIR/report.html"',
        env={"CG_DAY_DIR": DAY_DIR},
    )
    sweep >> report
