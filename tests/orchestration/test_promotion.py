"""`churnguard promote` and the promote_model DAG, on the MLflow store the training DAG filled.

Refusals (unknown version, failed gate) exit non-zero with the reason and leave the alias alone;
the DAG moves the alias back to an earlier version through the gates and the fair comparison, and
records who/why as version tags.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.orchestration.conftest import PROJECT_BIN, REPO, AirflowEnv, DagRunResult, mlflow_versions


def _workspace(airflow_env: AirflowEnv) -> Path:
    (workspace,) = [p for p in airflow_env.runs_dir.iterdir() if p.is_dir()]
    return workspace


def _project_env(airflow_env: AirflowEnv, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CHURNGUARD_", "MLFLOW_"))}
    env.update(
        {
            "CHURNGUARD_HOME": str(home),
            "MLFLOW_TRACKING_URI": f"sqlite:///{airflow_env.mlflow_db}",
            "CHURNGUARD_ARTIFACT_ROOT": (airflow_env.root / "mlartifacts").as_uri(),
            "PYTHONPATH": str(REPO),
        }
    )
    return env


def _promote(airflow_env: AirflowEnv, home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PROJECT_BIN / "python"), "-m", "churnguard.cli", "promote", *args],
        cwd=home,
        env=_project_env(airflow_env, home),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _alias_and_tags(db: Path, version: int) -> tuple[str | None, dict[str, str]]:
    with sqlite3.connect(db) as con:
        alias = con.execute(
            "SELECT version FROM registered_model_aliases WHERE name = 'churnguard' AND alias = 'champion'"
        ).fetchone()
        tags = dict(
            con.execute(
                "SELECT key, value FROM model_version_tags WHERE name = 'churnguard' AND version = ?", (version,)
            ).fetchall()
        )
    return (str(alias[0]) if alias else None), tags


@pytest.fixture(scope="module")
def store(trained: DagRunResult, airflow_env: AirflowEnv) -> AirflowEnv:
    assert trained.state == "success", trained.explain()
    return airflow_env


def test_promote_refuses_unknown_version_and_failed_gates(store: AirflowEnv, tmp_path):
    workspace = _workspace(store)
    champion_before, _ = _alias_and_tags(store.mlflow_db, 1)
    unknown = _promote(store, workspace, "--version", "99", "--why", "test", "--who", "tester")
    assert unknown.returncode == 2 and "has no version '99'" in unknown.stderr, unknown.stderr

    # Same version, stricter gates (a private home whose params demand ROC AUC >= 0.999).
    strict = tmp_path / "strict_home"
    strict.mkdir()
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["register"]["gates"]["min_roc_auc"] = 0.999
    (strict / "params.yaml").write_text(yaml.safe_dump(params))
    refused = _promote(
        store,
        strict,
        "--version",
        "1",
        "--why",
        "test",
        "--who",
        "tester",
        "--model-name",
        "churnguard",
        "--alias",
        "candidate_gate_test",
        "--features",
        str(workspace / "data" / "features" / "customers.parquet"),
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "NOT promoted" in refused.stderr and "min_roc_auc" in refused.stderr, refused.stderr
    assert _alias_and_tags(store.mlflow_db, 1)[0] == champion_before


def test_promote_dag_moves_champion_and_records_who_why(store: AirflowEnv):
    workspace = _workspace(store)
    before = mlflow_versions(store.mlflow_db)  # v1, and any version other tests of the session registered
    # A new version from the same workspace: register rescored it against the champion on the same rows.
    proc = subprocess.run(
        [str(PROJECT_BIN / "python"), "-m", "pipelines.register"],
        cwd=workspace,
        env=_project_env(store, workspace),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert mlflow_versions(store.mlflow_db) == [*before, before[-1] + 1]
    new = before[-1] + 1
    target = 1 if _alias_and_tags(store.mlflow_db, 1)[0] == str(new) else new  # whichever is not champion
    env = AirflowEnv(store.root, extra={"CHURNGUARD_HOME": str(workspace)})
    result = env.dags_test("promote_model", {"version": target, "why": "rollback drill", "who": "oncall-tester"})
    print(f"promote DAG: {result.state} in {result.seconds:.0f} s")
    assert result.state == "success", result.explain()
    alias, tags = _alias_and_tags(store.mlflow_db, target)
    assert alias == str(target)
    assert tags.get("promoted_by") == "oncall-tester" and tags.get("promotion_reason") == "rollback drill", tags
