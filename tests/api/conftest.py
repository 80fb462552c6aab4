"""Fixtures of the Python API tests: the tiny world, a private copy of its registry, a real
`churnguard serve` on a free port, and both clients.

The registry: a copy of the tiny workspace's MLflow store (its versions' artifacts stay where the
register stage put them, read only), with ``champion`` moved in the copy to the newest version when
the register stage's gates left it unset; a workspace without a store (``CHURNGUARD_API_WS``, a
developer shortcut to an already built workspace: ``models/`` and ``data/`` are enough) gets its
bundle registered into the private store by a subprocess (MLflow keeps process-global URIs).
Online features: the machine's Redis, db 2, under a key prefix unique to the session.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.workspace import REPO, Workspace

MODEL = "churnguard"
API_KEY = "api-test-key"
REDIS_URL = "redis://127.0.0.1:6379/2"

if os.environ.get("CHURNGUARD_API_WS"):  # reuse an already built tiny workspace while developing

    @pytest.fixture(scope="session")
    def tiny_workspace() -> Workspace:
        return Workspace(Path(os.environ["CHURNGUARD_API_WS"]), {})


@dataclass(frozen=True)
class World:
    root: Path  # the workspace (CHURNGUARD_HOME of the server and of the doc examples)
    store: str  # tracking URI of the private registry
    features: Path
    redis_prefix: str

    def env(self) -> dict[str, str]:
        """Environment of a process that uses this world through the defaults (server, doc examples)."""
        return dict(
            os.environ,
            CHURNGUARD_HOME=str(self.root),
            MLFLOW_TRACKING_URI=self.store,
            MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
            CHURNGUARD_API_KEYS=API_KEY,
            CHURNGUARD_API_KEY=API_KEY,
            OMP_NUM_THREADS="1",
        )


REGISTER = """
import os, sys
from pathlib import Path
from churnguard.mlops.promotion import move_alias
from churnguard.mlops.registry import configure, log_bundle
version, _ = log_bundle(Path(sys.argv[1]), {"test": "api"}, {"roc_auc": 0.8}, [], {"source": "tests/api"}, "churnguard")
move_alias(configure(), "churnguard", "champion", str(version.version), why="api tests", who="tests")
"""


def private_store(ws: Path, into: Path) -> str:
    """A registry with a champion for this session (see the module docstring)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{into / 'mlflow.db'}"
    if (ws / "mlflow.db").exists():
        shutil.copy2(ws / "mlflow.db", into / "mlflow.db")
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        versions = client.search_model_versions(f"name = '{MODEL}'")
        if versions:
            try:
                client.get_model_version_by_alias(MODEL, "champion")
            except Exception:  # the gates kept champion unset: the tests need one, any version will do
                newest = max(int(v.version) for v in versions)
                client.set_registered_model_alias(MODEL, "champion", str(newest))
            return uri
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri, CHURNGUARD_ARTIFACT_ROOT=(into / "artifacts").as_uri())
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    proc = subprocess.run([sys.executable, "-c", REGISTER, str(ws / "models")], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return uri


@pytest.fixture(scope="session")
def api_world(tiny_workspace: Workspace, tmp_path_factory) -> World:
    store = private_store(tiny_workspace.root, tmp_path_factory.mktemp("api_store"))
    return World(
        tiny_workspace.root,
        store,
        tiny_workspace.root / "data" / "features" / "customers.parquet",
        f"cgtest:api:{uuid.uuid4().hex[:8]}:",
    )


@pytest.fixture(scope="session")
def redis_db2(api_world: World):
    """The machine's Redis (db 2); the session's keys are removed afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    yield client
    for key in client.scan_iter(f"{api_world.redis_prefix}*"):
        client.delete(key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(api_world: World, redis_db2, tmp_path_factory):
    """`churnguard serve` (a real process) on a free port, following champion of the private store."""
    port = free_port()
    log = (tmp_path_factory.mktemp("api_serve") / "serve.log").open("w")
    cmd = [sys.executable, "-m", "churnguard.cli", "serve", "--port", str(port), "--poll-interval", "0"]
    cmd += ["--redis-url", REDIS_URL, "--redis-prefix", api_world.redis_prefix, "--log-level", "warning"]
    proc = subprocess.Popen(
        cmd, env=api_world.env(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log.name)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _wait_healthy(url: str, proc: subprocess.Popen, log: str, timeout_s: float = 180) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"churnguard serve exited {proc.returncode}: {Path(log).read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"churnguard serve not healthy after {timeout_s}s: {Path(log).read_text()[-3000:]}")


@pytest.fixture(scope="session")
def local(api_world: World):
    """The in-process client on the same champion, batch table and online store as the server, with the
    server's math pools (serving.math_threads = 1): float32 sums over another thread count differ in the
    8th digit, and this suite compares the two for exact equality."""
    import churnguard
    from churnguard.serving.holder import limit_math_threads

    limit_math_threads(1)

    client = churnguard.load(
        tracking_uri=api_world.store,
        batch_features=api_world.features,
        redis_url=REDIS_URL,
        redis_prefix=api_world.redis_prefix,
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def remote(server: str):
    import churnguard

    client = churnguard.connect(server, api_key=API_KEY)
    yield client
    client.close()


@pytest.fixture(scope="session")
def customer_ids(api_world: World) -> list[str]:
    """20 established and 5 cold-start customers of the tiny world (fixed: the first of each)."""
    import pandas as pd

    table = pd.read_parquet(api_world.features, columns=["customer_id", "is_cold_start"])
    cold = table["is_cold_start"] == 1
    return table.loc[~cold, "customer_id"].head(20).tolist() + table.loc[cold, "customer_id"].head(5).tolist()
