"""Integration: Airflow standalone (scripts/airflow.sh, as `make airflow` starts it) on a free loopback
port; the training DAG is triggered through the REST API v2 with params, runs to success, and the new
model version is in the (temporary SQLite) MLflow store. Airflow's process group is stopped at the end.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.orchestration.airflow_api import Api, _group_alive
from tests.orchestration.conftest import mlflow_versions, tiny_overrides


def test_trigger_training_over_rest_api_registers_a_version(standalone):
    env_obj, port, banner, pgid = standalone
    assert pgid is not None and _group_alive(pgid)
    # Bound to loopback only.
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
    assert listening and all("127.0.0.1:" in line for line in listening.splitlines() if line.strip()), listening

    api = Api(f"http://127.0.0.1:{port}")
    user, password = banner.split("login: ", 1)[1].split()[0], banner.split("login: ", 1)[1].split()[2]
    with pytest.raises(AssertionError, match=r"401|403"):
        api.call("GET", "/api/v2/dags", auth=False)
    api.login(user, password)
    deadline = time.time() + 300
    while True:  # the DAG processor parses dags/ shortly after start
        dags = {d["dag_id"] for d in api.call("GET", "/api/v2/dags")["dags"]}
        if "churn_training" in dags or time.time() > deadline:
            break
        time.sleep(3)
    assert {"churn_training", "nightly_scenario_report", "promote_model"} <= dags
    assert api.call("GET", "/api/v2/importErrors")["total_entries"] == 0

    api.call("PATCH", "/api/v2/dags/churn_training", {"is_paused": False})
    try:
        conf = {"source": "synthetic", "seed": 11, "overrides": tiny_overrides()}
        run = api.call("POST", "/api/v2/dags/churn_training/dagRuns", {"logical_date": None, "conf": conf})
        run_path = f"/api/v2/dags/churn_training/dagRuns/{urllib.parse.quote(run['dag_run_id'], safe='')}"
        t0, state = time.perf_counter(), run["state"]
        while state not in ("success", "failed") and time.perf_counter() - t0 < 900:
            time.sleep(5)
            state = api.call("GET", run_path)["state"]
        tasks = {t["task_id"]: t["state"] for t in api.call("GET", run_path + "/taskInstances")["task_instances"]}
    finally:  # Airflow is shared by the session: the browser test expects every DAG paused
        api.call("PATCH", "/api/v2/dags/churn_training", {"is_paused": True})
    print(f"REST-triggered training run: {state} after {time.perf_counter() - t0:.0f} s; tasks {tasks}")
    assert state == "success", tasks
    assert all(s == "success" for s in tasks.values()), tasks

    versions = mlflow_versions(env_obj.mlflow_db)
    assert versions == [1], versions
    (workspace,) = [p for p in env_obj.runs_dir.iterdir() if p.is_dir()]
    assert "seed: 11" in (workspace / "params.yaml").read_text()
    registration = json.loads((workspace / "metrics" / "registration.json").read_text())
    assert registration["version"] == 1
