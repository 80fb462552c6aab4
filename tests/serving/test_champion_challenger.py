"""Integration (issue #18 item 4): shadow and A/B traffic on a real app and registry, then promotion on evidence.

A private MLflow SQLite store holds v1 (the tiny workspace's bundle, champion), v2 (the same bundle
plus a noisy final part: a worse challenger, tests/serving/stub_parts.py) and v3 (the same bundle as
v1). The shadow process is real (spawned, follows the alias, writes the arm log); `churnguard promote`
runs as a subprocess on that log and the holdout's matured labels.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from churnguard.core.bundle import write_part_spec
from churnguard.mlops.promotion import EVIDENCE_TAG, move_alias, read_arm_log
from churnguard.serving.app import create_app
from churnguard.serving.arms import arm_of
from tests.serving.conftest import API_KEY, MODEL, Store, make_config, make_holder, private_store
from tests.serving.stub_parts import noise

KEY = {"X-API-Key": API_KEY}
SALT = "test-split"


@pytest.fixture(scope="module")
def arms_store(serving_store, tmp_path_factory) -> Store:
    root = tmp_path_factory.mktemp("arms_store")
    good = serving_store.root / "bundle_v1"
    noisy = root / "bundle_noisy"
    shutil.copytree(good, noisy)
    write_part_spec(noisy / "noisy", "noisy", 90, "tests.serving.stub_parts:load_noisy_part")
    uri = private_store(root, [good, noisy, good])
    move_alias(client(uri), MODEL, "challenger", "2", why="serving test", who="tests")
    return Store(uri=uri, features=serving_store.features, customers=serving_store.customers, root=root)


def client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(uri, uri)


def holdout(store: Store, n: int) -> pd.DataFrame:
    table = pd.read_parquet(store.features, columns=["customer_id", "churned", "split"])
    return table[table["split"] == "holdout"].head(n).reset_index(drop=True)


def wait_for(predicate, what: str, timeout: float = 120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def challenger_health(c: TestClient) -> dict:
    return c.get("/health").json()["challenger"]


def predict_all(c: TestClient, ids: list[str], batch: int = 100) -> dict[str, dict]:
    answers = {}
    for start in range(0, len(ids), batch):
        r = c.post("/v1/predict", json={"customers": [{"customer_id": i} for i in ids[start : start + batch]]})
        assert r.status_code == 200, r.text[:300]
        answers.update({p["customer_id"]: p for p in r.json()["predictions"]})
    return answers


def promote(store: Store, log_dir, labels) -> subprocess.CompletedProcess:
    env = dict(os.environ, MLFLOW_TRACKING_URI=store.uri)
    cmd = [sys.executable, "-m", "churnguard.cli", "promote", "--version", "challenger", "--why", "shadow test"]
    cmd += ["--evidence", str(log_dir), "--labels", str(labels), "--features", str(store.features)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # ~60 s: a spawned shadow process follows the alias through two versions
def test_shadow_scores_off_the_hot_path_and_promotion_needs_evidence(arms_store, tmp_path):
    log_dir, labels = tmp_path / "arms", tmp_path / "labels.parquet"
    customers = holdout(arms_store, 600)
    customers[["customer_id", "churned"]].to_parquet(labels)  # matured labels of the shadowed customers
    ids = customers["customer_id"].tolist()
    cfg = make_config(
        arms_store,
        poll_interval_s=0.5,
        redis={"url": None},
        challenger={"mode": "shadow", "log_dir": str(log_dir), "poll_interval_s": 0.5},
    )
    holder = make_holder(arms_store, cfg)  # polls the private store: stopped at the end (global MLflow URI)
    app = create_app(cfg, holder=holder, start_holder=False)
    try:
        shadow_then_promote(app, arms_store, ids, log_dir, labels)
    finally:
        holder.stop()


def shadow_then_promote(app, arms_store: Store, ids: list[str], log_dir, labels) -> None:
    with TestClient(app, headers=KEY) as c:
        wait_for(lambda: challenger_health(c).get("state") == "ready", "the shadow process to load v2")
        answers = predict_all(c, ids)
        assert {(p["arm"], p["model_version"]) for p in answers.values()} == {("champion", "1")}
        wait_for(lambda: challenger_health(c)["scored_rows"] >= 600, "600 shadow scores")
        metrics = c.get("/metrics").text
        assert 'churnguard_arm_scored_rows_total{arm="challenger",traffic="shadow",version="2"} 600.0' in metrics
        assert 'churnguard_arm_scored_rows_total{arm="champion",traffic="served",version="1"} 600.0' in metrics
        assert "churnguard_challenger_version 2.0" in metrics and "churnguard_shadow_dropped_total 0.0" in metrics

        log = read_arm_log([log_dir]).set_index("customer_id").loc[ids]
        champion = np.array([answers[i]["churn_probability"] for i in ids])
        assert np.allclose(log["champion_probability"], champion, atol=1e-6)  # what the caller got
        assert np.allclose(log["challenger_probability"], 0.5 * champion + 0.5 * noise(ids), atol=1e-6)
        assert (log["champion_version"] == "1").all() and (log["challenger_version"] == "2").all()

        refused = promote(arms_store, log_dir, labels)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "shadow evidence" in refused.stderr and "interval low" in refused.stderr
        registry = client(arms_store.uri)
        assert str(registry.get_model_version_by_alias(MODEL, "champion").version) == "1"
        assert '"passed":false' in registry.get_model_version(MODEL, "2").tags[EVIDENCE_TAG]

        move_alias(registry, MODEL, "challenger", "3", why="a retrain as good as the champion", who="tests")
        wait_for(lambda: challenger_health(c)["version"] == "3", "the shadow process to follow the alias to v3")
        predict_all(c, ids)
        wait_for(lambda: (read_arm_log([log_dir])["challenger_version"] == "3").sum() >= 600, "v3 shadow scores")
        promoted = promote(arms_store, log_dir, labels)
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        assert str(registry.get_model_version_by_alias(MODEL, "champion").version) == "3"
        assert '"passed":true' in registry.get_model_version(MODEL, "3").tags[EVIDENCE_TAG]
        assert "challenger" not in registry.get_registered_model(MODEL).aliases  # promoted: alias removed
        wait_for(lambda: challenger_health(c)["state"] == "no_challenger", "the shadow process to drop v3")


def test_ab_answers_a_sticky_share_with_the_challenger(arms_store, tmp_path):
    registry = client(arms_store.uri)
    move_alias(registry, MODEL, "champion", "1", why="serving test", who="tests")
    move_alias(registry, MODEL, "challenger", "2", why="serving test", who="tests")
    cfg = make_config(
        arms_store,
        redis={"url": None},
        challenger={"mode": "ab", "ab_share": 0.5, "ab_salt": SALT, "log_dir": str(tmp_path / "arms")},
    )
    app = create_app(cfg, holder=make_holder(arms_store, cfg, pinned=f"models:/{MODEL}/1"), start_holder=False)
    ids = holdout(arms_store, 120)["customer_id"].tolist()
    with TestClient(app, headers=KEY) as c:
        assert challenger_health(c) | {"last_error": None} == {
            "mode": "ab",
            "alias": "challenger",
            "version": "2",
            "share": 0.5,
            "state": None,
            "scored_rows": None,
            "dropped": None,
            "last_error": None,
        }
        single = {}
        for cid in ids:
            body = c.post("/v1/predict", json={"customers": [{"customer_id": cid}]}).json()
            (p,) = body["predictions"]
            expected = arm_of(cid, 0.5, SALT)
            assert p["arm"] == expected and body["model_version"] == p["model_version"]
            assert p["model_version"] == ("2" if expected == "challenger" else "1")
            single[cid] = p
        assert 30 < sum(p["arm"] == "challenger" for p in single.values()) < 90
        batch = predict_all(c, ids, batch=40)  # split batches: each customer keeps its arm and its score
        assert all(batch[i]["arm"] == single[i]["arm"] for i in ids)
        assert all(batch[i]["churn_probability"] == pytest.approx(single[i]["churn_probability"]) for i in ids)
        metrics = c.get("/metrics").text
    n_challenger = 2 * sum(p["arm"] == "challenger" for p in single.values())
    assert f'churnguard_arm_scored_rows_total{{arm="challenger",traffic="served",version="2"}} {n_challenger}.0' in (
        metrics
    )
    log = read_arm_log([tmp_path / "arms"])
    assert len(log) == 2 * len(ids) and set(log["mode"]) == {"ab"}
    assert (log["champion_probability"].isna() == (log["served_arm"] == "challenger")).all()


@pytest.mark.slow  # spawns a shadow process that imports the serving stack: ~50 s on a shared box
def test_the_shadow_process_runs_this_code_not_a_loaded_versions_copy(tmp_path):
    """MLflow puts each loaded version's code copy first on sys.path; a spawned shadow process must still
    import the serving process's churnguard (a stale copy once unpickled jobs with the wrong class)."""
    from churnguard.serving.metrics import Metrics
    from churnguard.serving.shadow import ShadowScorer, WorkerSettings

    stale = tmp_path / "code" / "churnguard"
    stale.mkdir(parents=True)
    (stale / "__init__.py").write_text("raise ImportError('a stale code copy was imported')\n")
    settings = WorkerSettings(
        tracking_uri=f"sqlite:///{tmp_path / 'empty.db'}",  # no model: the challenger alias is missing
        model_name=MODEL,
        alias="challenger",
        poll_interval_s=0,
        log_dir=str(tmp_path / "arms"),
        require_digest=True,
        signing_key=None,
        math_threads=1,
    )
    scorer = ShadowScorer(settings, queue_size=10, metrics=Metrics())
    sys.path.insert(0, str(stale.parent))
    try:
        scorer.start()
    finally:
        sys.path.remove(str(stale.parent))
    try:
        wait_for(lambda: scorer.status.state != "starting", "the shadow process to report", timeout=90)
        assert scorer.status.state == "no_challenger", scorer.status
    finally:
        scorer.stop()
