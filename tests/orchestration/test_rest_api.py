"""Integration: Airflow standalone (scripts/airflow.sh, as `make airflow` starts it) on a free loopback
port; the training DAG is triggered through the REST API v2 with params, runs to success, and the new
model version is in the (temporary SQLite) MLflow store. Airflow's process group is stopped at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.orchestration.conftest import REPO, AirflowEnv, mlflow_versions, require_airflow, tiny_overrides

SCRIPT = REPO / "scripts" / "airflow.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, base: str):
        self.base, self.token = base, None

    def call(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> dict:
        req = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {self.token}"} if auth else {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path} -> {exc.code}: {exc.read()[:1000]!r}") from exc

    def login(self, user: str, password: str) -> None:
        self.token = self.call("POST", "/auth/token", {"username": user, "password": password}, auth=False)[
            "access_token"
        ]


def _group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _ppid, group = text[text.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(f"{stat.parent.name}:{text[text.index('(') + 1 : text.rindex(')')]}")
    return members


def _group_alive(pgid: int) -> bool:
    return bool(_group_members(pgid))


@pytest.fixture
def standalone(tmp_path):
    """Airflow standalone through scripts/airflow.sh; always stopped by process group afterwards."""
    require_airflow()
    env_obj = AirflowEnv(tmp_path)
    port = free_port()
    env = dict(env_obj.env, AIRFLOW_PORT=str(port), AIRFLOW_START_TIMEOUT="420")
    pidfile = env_obj.home / "standalone.pid"
    t0 = time.perf_counter()
    proc = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=480)
    started = time.perf_counter() - t0
    pgid = int(pidfile.read_text()) if pidfile.exists() else None
    try:
        assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert f"http://127.0.0.1:{port}" in proc.stdout and "login: admin / " in proc.stdout, proc.stdout
        print(f"Airflow standalone up in {started:.0f} s on 127.0.0.1:{port}")
        yield env_obj, port, proc.stdout, pgid
    finally:
        stop = subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)
        left = _group_members(pgid) if pgid is not None else []
        if left:  # the script failed to stop it: do it here, by group, and fail
            os.killpg(pgid, signal.SIGKILL)
            pytest.fail(f"scripts/airflow.sh stop left {left} of process group {pgid}: {stop.stdout} {stop.stderr}")
        assert stop.returncode == 0, stop.stderr


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
    conf = {"source": "synthetic", "seed": 11, "overrides": tiny_overrides()}
    run = api.call("POST", "/api/v2/dags/churn_training/dagRuns", {"logical_date": None, "conf": conf})
    run_path = f"/api/v2/dags/churn_training/dagRuns/{urllib.parse.quote(run['dag_run_id'], safe='')}"
    t0, state = time.perf_counter(), run["state"]
    while state not in ("success", "failed") and time.perf_counter() - t0 < 900:
        time.sleep(5)
        state = api.call("GET", run_path)["state"]
    tasks = {t["task_id"]: t["state"] for t in api.call("GET", run_path + "/taskInstances")["task_instances"]}
    print(f"REST-triggered training run: {state} after {time.perf_counter() - t0:.0f} s; tasks {tasks}")
    assert state == "success", tasks
    assert all(s == "success" for s in tasks.values()), tasks

    versions = mlflow_versions(env_obj.mlflow_db)
    assert versions == [1], versions
    (workspace,) = [p for p in env_obj.runs_dir.iterdir() if p.is_dir()]
    assert "seed: 11" in (workspace / "params.yaml").read_text()
    registration = json.loads((workspace / "metrics" / "registration.json").read_text())
    assert registration["version"] == 1
