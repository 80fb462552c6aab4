"""Fixtures for the orchestration tests: the real DAGs, driven through Airflow's own environment.

Airflow lives in ``.venv-airflow`` (docs/stack.md), so every Airflow action here is a subprocess of
that environment, with its own AIRFLOW_HOME and SQLite metadata DB under pytest's tmp dir. The
DAGs' tasks call the project's ``.venv``. Workspaces, MLflow store and reports are throw-away
(CHURNGUARD_RUNS_DIR, MLFLOW_TRACKING_URI, CHURNGUARD_REPORTS_DIR), so the main workspace's DVC
lock and MLflow store are never touched.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_BIN = REPO / ".venv-airflow" / "bin"
PROJECT_BIN = REPO / ".venv" / "bin"
# The pipeline the DAGs run (dvc.yaml, params.yaml, code): this checkout, or another tree given by
# CHURNGUARD_TEST_REPO (e.g. `git archive HEAD` output, to test the committed pipeline while other
# areas have half-finished stages in the working tree).
PIPELINE_REPO = Path(os.environ.get("CHURNGUARD_TEST_REPO") or REPO)

# Smaller than tests/tiny_params.yaml where it matters for wall time on 2 cores: one model family.
ORCHESTRATION_TINY = {"world": {"customers": 2500}, "train_base": {"candidates": ["logistic_regression"]}}


def tiny_overrides() -> dict[str, Any]:
    """tests/tiny_params.yaml (every area's tiny section) plus the orchestration tests' own."""
    from tests.workspace import deep_merge

    return deep_merge(
        yaml.safe_load((PIPELINE_REPO / "tests" / "tiny_params.yaml").read_text()) or {}, ORCHESTRATION_TINY
    )


def mlflow_versions(db: Path, name: str = "churnguard") -> list[int]:
    """Registered versions in a SQLite MLflow store (empty when the store or model does not exist)."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as con:
        try:
            rows = con.execute("SELECT version FROM model_versions WHERE name = ?", (name,)).fetchall()
        except sqlite3.OperationalError:  # tables not created yet
            return []
    return sorted(int(r[0]) for r in rows)


@dataclass
class AirflowEnv:
    """An isolated Airflow home + throw-away churnguard locations."""

    root: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.root / "airflow_home"

    @property
    def db(self) -> Path:
        return self.home / "airflow.db"

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "CHURNGUARD_", "MLFLOW_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
        }
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db}",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "PATH": f"{AIRFLOW_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "CHURNGUARD_REPO": str(PIPELINE_REPO),
                "CHURNGUARD_PYTHON_BIN": str(PROJECT_BIN),
                "CHURNGUARD_RUNS_DIR": str(self.runs_dir),
                "CHURNGUARD_REPORTS_DIR": str(self.reports_dir),
                "MLFLOW_TRACKING_URI": f"sqlite:///{self.mlflow_db}",
                "CHURNGUARD_ARTIFACT_ROOT": (self.root / "mlartifacts").as_uri(),
            }
        )
        env.update(self.extra)
        return env

    def airflow(self, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [str(AIRFLOW_BIN / "airflow"), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            )
        return proc

    def migrate(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate", timeout=300)

    def dags_test(
        self, dag_id: str, conf: dict[str, Any] | None = None, logical_date: str | None = None, timeout: float = 900
    ) -> DagRunResult:
        args = ["dags", "test", dag_id, *([logical_date] if logical_date else [])]
        if conf is not None:
            args += ["-c", json.dumps(conf)]
        t0 = time.perf_counter()
        proc = self.airflow(*args, timeout=timeout, check=False)
        seconds = time.perf_counter() - t0
        run_id, state = self.last_run(dag_id)
        return DagRunResult(dag_id, run_id, state, self.task_states(dag_id, run_id), proc, seconds)

    def last_run(self, dag_id: str) -> tuple[str, str]:
        with sqlite3.connect(self.db) as con:
            row = con.execute(
                "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
            ).fetchone()
        assert row is not None, f"no run of {dag_id} in {self.db}"
        return row[0], row[1]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        with sqlite3.connect(self.db) as con:
            rows = con.execute(
                "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
            ).fetchall()
        return {(t if m < 0 else f"{t}[{m}]"): s for t, m, s in rows}


@dataclass
class DagRunResult:
    dag_id: str
    run_id: str
    state: str
    tasks: dict[str, str | None]
    proc: subprocess.CompletedProcess
    seconds: float

    def explain(self) -> str:
        return (
            f"{self.dag_id} run {self.run_id}: {self.state}; tasks {self.tasks}\n"
            f"--- stdout tail ---\n{self.proc.stdout[-6000:]}\n--- stderr tail ---\n{self.proc.stderr[-6000:]}"
        )


def require_airflow() -> None:
    if not (AIRFLOW_BIN / "airflow").exists():
        pytest.skip(f"Airflow environment missing at {AIRFLOW_BIN} (make airflow-venv)")


# Fixtures that run a whole (tiny) pipeline, start Airflow or a browser: minutes each on 2 cores.
SLOW_FIXTURES = {"airflow_env", "trained", "standalone", "browser", "tiny_workspace", "committed_copy", "tiny_clone"}


def pytest_collection_modifyitems(config, items):
    """Mark every test that uses a slow fixture as slow, so `make test-fast` (-m "not slow") skips it."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory) -> AirflowEnv:
    """One migrated Airflow home for the `airflow dags test` runs of this session."""
    require_airflow()
    env = AirflowEnv(tmp_path_factory.mktemp("orchestration"))
    env.migrate()
    return env


@pytest.fixture(scope="session")
def standalone(tmp_path_factory):
    """One Airflow standalone (scripts/airflow.sh) for the session's REST and browser tests."""
    from tests.orchestration.airflow_api import start_standalone

    yield from start_standalone(tmp_path_factory.mktemp("standalone"))


@pytest.fixture(scope="session")
def trained(airflow_env: AirflowEnv) -> DagRunResult:
    """The training DAG run once end to end on tiny params (shared by the training and nightly tests)."""
    conf = {"source": "synthetic", "seed": 7, "overrides": tiny_overrides()}
    return airflow_env.dags_test("churn_training", conf)
