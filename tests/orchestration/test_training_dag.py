"""The training DAG end to end (`airflow dags test`), and a bad batch that must stop before `register`."""

from __future__ import annotations

import json
import re

import yaml

from tests.orchestration.conftest import PIPELINE_REPO, AirflowEnv, DagRunResult, mlflow_versions, tiny_overrides

STAGES = list(yaml.safe_load((PIPELINE_REPO / "dvc.yaml").read_text())["stages"])


def test_training_dag_runs_end_to_end(trained: DagRunResult, airflow_env: AirflowEnv):
    print(f"training DAG: {trained.state} in {trained.seconds:.0f} s")
    assert trained.state == "success", trained.explain()
    assert set(trained.tasks) == {"prepare_workspace", *STAGES}, trained.explain()
    assert all(state == "success" for state in trained.tasks.values()), trained.explain()
    # The per-run workspace got the trigger params, the committed params.yaml did not.
    (workspace,) = [p for p in airflow_env.runs_dir.iterdir() if p.is_dir()]
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    assert params["data"]["seed"] == 7 and params["world"]["customers"] == 2500
    assert yaml.safe_load((PIPELINE_REPO / "params.yaml").read_text())["world"]["customers"] != 2500
    # register logged a version in the run's MLflow store (not the repository's).
    registration = json.loads((workspace / "metrics" / "registration.json").read_text())
    # (other orchestration tests, e.g. promotion, add versions to the session's store and may
    # re-register in this workspace, so the number is not necessarily 1)
    assert int(registration["version"]) in mlflow_versions(airflow_env.mlflow_db)
    # DVC recorded every stage in the workspace's own lock file.
    assert set(yaml.safe_load((workspace / "dvc.lock").read_text())["stages"]) == set(STAGES)
    # The register task links to the MLflow version (an extra link, stored as XCom when the task ends).
    import sqlite3

    with sqlite3.connect(airflow_env.db) as con:
        links = dict(
            con.execute(
                "SELECT key, value FROM xcom WHERE dag_id = 'churn_training' AND run_id = ? "
                "AND task_id = 'register' AND key LIKE '_link_%'",
                (trained.run_id,),
            ).fetchall()
        )
    # (the version the register *task* made: later tests may re-register in this workspace)
    linked = re.search(r"/#/models/churnguard/versions/(\d+)", str(links.get("_link_MlflowVersionLink")))
    assert linked and int(linked.group(1)) in mlflow_versions(airflow_env.mlflow_db), links
    assert str(links.get("_link_ReportLink", "")).endswith('reports/interventions.html"'), links
    # Task logs carry no carriage-return progress bars.
    assert "\r" not in trained.proc.stdout + trained.proc.stderr


def test_corrupt_csv_fails_validate_and_never_registers(airflow_env: AirflowEnv, tmp_path):
    """A CSV source with negative tenure: validate fails, nothing downstream runs, no MLflow version."""
    rows = ["customerID,Churn,tenure,MonthlyCharges,Contract"]
    for i in range(300):
        tenure = -5 if i % 10 == 0 else i % 72
        rows.append(
            f"C{i:05d},{'Yes' if i % 4 == 0 else 'No'},{tenure},{20 + i % 80}.5,"
            f"{['Month-to-month', 'One year', 'Two year'][i % 3]}"
        )
    csv = tmp_path / "corrupt_customers.csv"
    csv.write_text("\n".join(rows) + "\n")
    mlflow_db = tmp_path / "corrupt_mlflow.db"
    env = AirflowEnv(
        airflow_env.root,
        extra={"MLFLOW_TRACKING_URI": f"sqlite:///{mlflow_db}", "CHURNGUARD_RUNS_DIR": str(tmp_path / "runs")},
    )
    before = mlflow_versions(mlflow_db)
    result = env.dags_test("churn_training", {"source": "csv", "csv_path": str(csv), "overrides": tiny_overrides()})
    print(f"corrupt-data run: {result.state} in {result.seconds:.0f} s; tasks {result.tasks}")
    assert result.state == "failed", result.explain()
    assert result.tasks["prepare_workspace"] == "success", result.explain()
    assert result.tasks["ingest"] == "success", result.explain()
    assert result.tasks["validate"] == "failed", result.explain()
    assert result.tasks["register"] != "success", result.explain()
    after_validate = STAGES[STAGES.index("validate") + 1 :]
    assert all(result.tasks[t] in (None, "upstream_failed") for t in after_validate), result.explain()
    assert mlflow_versions(mlflow_db) == before == []
    (workspace,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert not (workspace / "metrics" / "registration.json").exists()
    assert json.loads((workspace / "metrics" / "validation.json").read_text())["success"] is False
