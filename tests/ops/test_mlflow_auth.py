"""The compose/Kubernetes MLflow entry point (docker/mlflow/auth-server.sh + basic_auth.ini) against a
real MLflow server on loopback: it refuses to start without its secrets, answers 401 without or
with wrong credentials, 200 with the admin's, and the MLflow client authenticates through the
standard MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD variables (what serving, streaming,
Airflow and the bootstrap job are given)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.ops.tools import DOCKER, REPO

SCRIPT = DOCKER / "mlflow" / "auth-server.sh"
pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp: Path, port: int, password: str) -> dict[str, str]:
    return dict(
        os.environ,
        MLFLOW_BACKEND_STORE_URI=f"sqlite:///{tmp / 'mlflow.db'}",
        MLFLOW_AUTH_ADMIN_USERNAME="admin",
        MLFLOW_AUTH_ADMIN_PASSWORD=password,
        MLFLOW_FLASK_SERVER_SECRET_KEY=secrets.token_hex(16),
        MLFLOW_AUTH_DB_URI=f"sqlite:///{tmp / 'auth.db'}",
        MLFLOW_ARTIFACTS_DESTINATION=str(tmp / "artifacts"),
        MLFLOW_HOST="127.0.0.1",
        MLFLOW_PORT=str(port),
        MLFLOW_BIN=str(REPO / ".venv" / "bin" / "mlflow"),
    )


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    tmp, port, password = tmp_path_factory.mktemp("mlflow_auth"), free_port(), secrets.token_urlsafe(18)
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(
        ["bash", str(SCRIPT)],
        env=server_env(tmp, port, password),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"MLflow auth server exited {proc.returncode}: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("MLflow auth server not up after 180 s")
            time.sleep(1)
        yield url, password
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_refuses_to_start_without_secrets(tmp_path):
    env = server_env(tmp_path, free_port(), "x" * 16)
    del env["MLFLOW_AUTH_ADMIN_PASSWORD"]
    out = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "MLFLOW_AUTH_ADMIN_PASSWORD is not set" in out.stderr


def test_registry_needs_credentials(auth_server):
    url, password = auth_server
    api = f"{url}/api/2.0/mlflow/registered-models/search"
    assert requests.get(api, timeout=10).status_code == 401
    assert requests.get(api, auth=("admin", password + "x"), timeout=10).status_code == 401
    assert requests.get(api, auth=("admin", password), timeout=10).status_code == 200


def test_mlflow_client_authenticates_from_environment(auth_server):
    url, password = auth_server
    code = (
        "import mlflow; c = mlflow.MlflowClient(); c.create_registered_model('cg-auth-check'); "
        "print([m.name for m in c.search_registered_models()])"
    )
    # nothing MLflow-related from this process (an earlier in-process set_registry_uri() leaves
    # MLFLOW_REGISTRY_URI pointing at some test's SQLite store, which needs no password)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=url, MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=password)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "cg-auth-check" in out.stdout, out.stderr[-2000:]
    env.pop("MLFLOW_TRACKING_PASSWORD")
    out = subprocess.run(
        [sys.executable, "-c", code.replace("c.create_registered_model('cg-auth-check'); ", "")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0 and "401" in out.stderr
