"""The registry also runs on PostgreSQL (the machine's server on 127.0.0.1:5432, trust auth)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def postgres_url():
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is not reachable: {exc}")
    admin.autocommit = True
    name = f"churnguard_test_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_register_stage_on_postgres(tiny_workspace, postgres_url, tmp_path):
    from mlflow import MlflowClient
    from tests.workspace import Workspace

    # a private copy, so the shared tiny workspace's registration stays as other tests expect
    root = tmp_path / "ws"
    shutil.copytree(tiny_workspace.root, root, ignore=shutil.ignore_patterns("mlflow.db", "mlartifacts"))
    ws = Workspace(root, tiny_workspace.params)
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.register"],
        cwd=ws.root,
        env=dict(ws.env, MLFLOW_TRACKING_URI=postgres_url),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(tracking_uri=postgres_url, registry_uri=postgres_url)
    champion = client.get_model_version_by_alias("churnguard", "champion")
    assert str(champion.version) == "1"
    reg = json.loads((ws.root / "metrics" / "registration.json").read_text())
    assert reg["champion"] is True
