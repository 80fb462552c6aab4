"""Serving fixtures: a private MLflow SQLite store with two real versions of the tiny bundle.

v1 = the tiny workspace's bundle without an `interventions` part (champion); v2 = the bundle with
one: the real part when the workspace trained it, else a contract stub
(tests/serving/stub_parts.py). The tiny workspace's own store is left alone.
If the shared tiny workspace cannot be built (another area's stage failing), a private tiny
workspace runs only the stages serving needs (ingest, validate, features, train_base).
Redis: the machine's Redis, db 2, with a unique key prefix per test session.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per model download otherwise

from churnguard.core.bundle import write_part_spec

MODEL = "churnguard"
API_KEY = "test-key-1"
OTHER_KEY = "test-key-2"
REDIS_DB2 = "redis://127.0.0.1:6379/2"


@dataclass
class Store:
    uri: str
    features: Path
    customers: list[str]
    root: Path | None = None  # holds bundle_v1 / bundle_v2 (copies of the workspace bundle)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVING_STAGES = ("ingest", "validate", "features", "train_base")


@contextmanager
def store_environment(root: Path, uri: str):
    """MLFLOW_TRACKING_URI and CHURNGUARD_ARTIFACT_ROOT pointing at a test store while the block runs."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "CHURNGUARD_ARTIFACT_ROOT")}
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ["CHURNGUARD_ARTIFACT_ROOT"] = (root / "artifacts").as_uri()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _workspace(request, tmp_path_factory):
    reuse = os.environ.get("CHURNGUARD_SERVING_WS")  # developer shortcut: an already built tiny workspace
    if reuse:
        from tests.workspace import Workspace

        return Workspace(Path(reuse), {})
    try:
        return request.getfixturevalue("tiny_workspace")
    except Exception as exc:
        import warnings

        from tests.workspace import Workspace

        warnings.warn(f"tiny_workspace failed ({str(exc)[:300]}); serving uses a private one", stacklevel=2)
        ws = Workspace.create(tmp_path_factory.mktemp("serving_ws"))
        for stage in SERVING_STAGES:
            ws.run_stage(stage)
        return ws


@pytest.fixture(scope="session")
def serving_store(request, tmp_path_factory) -> Store:
    import pandas as pd

    from churnguard.mlops.promotion import move_alias
    from churnguard.mlops.registry import configure, log_bundle

    root = tmp_path_factory.mktemp("serving_store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with store_environment(root, uri):
        ws = _workspace(request, tmp_path_factory)
        v1_dir, v2_dir = root / "bundle_v1", root / "bundle_v2"
        shutil.copytree(ws.root / "models", v2_dir)
        shutil.copytree(v2_dir, v1_dir)
        shutil.rmtree(v1_dir / "interventions", ignore_errors=True)
        if not (v2_dir / "interventions" / "part.json").exists():
            write_part_spec(v2_dir / "interventions", "interventions", 30, "tests.serving.stub_parts:load_part")
        for d in (v1_dir, v2_dir):
            log_bundle(d, {"test": "serving"}, {"roc_auc": 0.8}, [], {"parts": d.name}, MODEL)
        move_alias(configure(), MODEL, "champion", "1", why="serving tests", who="tests")
    features = ws.root / "data" / "features" / "customers.parquet"
    ids = pd.read_parquet(features, columns=["customer_id"])["customer_id"].astype(str).tolist()
    return Store(uri=uri, features=features, customers=ids[:50], root=root)


def register(store: Store, bundle_dir: Path, metrics: dict[str, float] | None = None) -> str:
    """Register one more real version of ``bundle_dir`` in the test store (through log_bundle, so it gets
    the artifact digest tag like the register stage's versions); returns the version number."""
    from churnguard.mlops.registry import log_bundle

    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = store.uri
    try:
        version, _ = log_bundle(
            bundle_dir, {"test": "serving"}, {"roc_auc": 0.8, **(metrics or {})}, [], {"parts": bundle_dir.name}, MODEL
        )
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    return str(version.version)


def move_champion(store: Store, version: str) -> None:
    from churnguard.mlops.promotion import move_alias
    from mlflow import MlflowClient

    move_alias(MlflowClient(store.uri, store.uri), MODEL, "champion", version, why="serving test", who="tests")


@pytest.fixture
def redis_prefix():
    """A unique key prefix in db 2 of the machine's Redis; keys removed afterwards."""
    import redis

    prefix = f"cgtest:serving:{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(REDIS_DB2)
    yield client, prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def make_config(store: Store, **overrides):
    """A ServingConfig for the test store; ``overrides`` are nested like services.yaml's ``serving:``
    (``redis={"url": None}``) and laid over the test defaults."""
    from churnguard.core.config import deep_merge
    from churnguard.serving.config import ServingConfig

    base = dict(
        model_name=MODEL,
        alias="champion",
        poll_interval_s=0,
        batch_features=str(store.features),
        redis={"url": REDIS_DB2, "prefix": "cgtest:none:", "timeout_ms": 250},
        auth={"api_keys": [API_KEY, OTHER_KEY], "failed_per_second": 10_000.0, "failed_burst": 10_000},
        rate_limit={"per_second": 10_000.0, "burst": 10_000},
    )
    return ServingConfig.from_params(env={}, overrides=deep_merge(base, overrides))


def make_holder(store: Store, cfg, pinned: str | None = None):
    from churnguard.serving.holder import ModelHolder

    holder = ModelHolder(store.uri, cfg.model_name, cfg.alias, cfg.poll_interval_s, pinned_uri=pinned)
    holder.start(wait=True)
    assert holder.current is not None, holder.last_error
    return holder


class ServerThread:
    """A real uvicorn HTTP server on 127.0.0.1 in a thread of the test process."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


GATE_METRICS = {"roc_auc": 0.8, "brier": 0.1, "top_decile_lift": 3.0, "customers": 25_000}  # pass register.gates


def private_store(root: Path, bundles: list[Path], metrics: dict[str, float] | None = None) -> str:
    """A fresh MLflow SQLite store under ``root`` holding ``bundles`` as versions 1, 2, ... (through
    log_bundle, digest tags included); v1 is champion. Returns its URI. The session store is left alone."""
    from churnguard.mlops.promotion import move_alias
    from churnguard.mlops.registry import configure, log_bundle

    uri = f"sqlite:///{root / 'mlflow.db'}"
    with store_environment(root, uri):
        for bundle in bundles:
            log_bundle(bundle, {"test": "serving"}, metrics or GATE_METRICS, [], {"parts": bundle.name}, MODEL)
        move_alias(configure(), MODEL, "champion", "1", why="serving tests", who="tests")
    return uri
