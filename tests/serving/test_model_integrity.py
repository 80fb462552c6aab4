"""Finding 9: loading a version is code execution, so serving refuses artifacts that do not match
the digest recorded at registration. Real MLflow store, real versions, real artifact files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from churnguard.mlops.registry import DIGEST_TAG, SIGNATURE_TAG
from churnguard.serving.app import create_app
from churnguard.serving.holder import ModelHolder, load_version
from churnguard.serving.integrity import RefusedVersion
from tests.serving.conftest import API_KEY, MODEL, ServerThread, make_config, move_champion, register

KEY = {"X-API-Key": API_KEY}


def _artifact_dir(store, version: str) -> Path:
    """Where the version's files live in the store (a file: artifact location)."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(store.uri)
    mv = MlflowClient(store.uri, store.uri).get_model_version(MODEL, version)
    location = mlflow.get_logged_model(mv.source.split("/")[-1]).artifact_location
    return Path(location.removeprefix("file://"))


def test_tampered_version_is_refused_and_the_previous_keeps_serving(serving_store):
    good = register(serving_store, serving_store.root / "bundle_v1")
    tampered = register(serving_store, serving_store.root / "bundle_v1")
    # an artifact-store writer edits a file after registration (a harmless one: the load would succeed)
    part = next(_artifact_dir(serving_store, tampered).rglob("base/part.json"))
    spec = json.loads(part.read_text())
    part.write_text(json.dumps({**spec, "note": "changed after registration"}))

    move_champion(serving_store, good)
    cfg = make_config(serving_store, redis={"url": None})
    holder = ModelHolder(serving_store.uri, MODEL, "champion", 0)
    app = create_app(cfg, holder=holder, start_holder=False)
    holder.start(wait=True)
    assert holder.current.version == good and holder.current.digest
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30, headers=KEY) as client:
        check_refusal_over_http(serving_store, holder, client, good, tampered)


def check_refusal_over_http(serving_store, holder, client, good: str, tampered: str) -> None:
    try:
        move_champion(serving_store, tampered)
        assert holder.refresh() is False
        assert holder.current.version == good  # nothing of the tampered version runs
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["model"]["refused_version"] == tampered
        assert "differs from the recorded" in health["model"]["refused_reason"]
        assert "churnguard_model_refused_total 1.0" in client.get("/metrics").text
        assert f"churnguard_model_refused_version {float(tampered)}" in client.get("/metrics").text
        r = client.post("/v1/predict", json={"customers": [{"customer_id": serving_store.customers[0]}]})
        assert r.status_code == 200 and r.json()["model_version"] == good

        # a good version behind the alias loads, and health is clean again
        fixed = register(serving_store, serving_store.root / "bundle_v1")
        move_champion(serving_store, fixed)
        assert holder.refresh() is True and holder.current.version == fixed
        assert client.get("/health").json()["model"]["refused_version"] is None
    finally:
        move_champion(serving_store, "1")


def test_version_without_digest_or_signature_is_refused(serving_store, monkeypatch):
    from mlflow import MlflowClient

    version = register(serving_store, serving_store.root / "bundle_v1")
    uri = f"models:/{MODEL}/{version}"
    client = MlflowClient(serving_store.uri, serving_store.uri)
    assert client.get_model_version(MODEL, version).tags[DIGEST_TAG]
    # no signing key at registration: a deployment that requires signatures refuses it
    with pytest.raises(RefusedVersion, match=SIGNATURE_TAG):
        load_version(serving_store.uri, uri, version, signing_key="deployment-key")
    client.delete_model_version_tag(MODEL, version, DIGEST_TAG)
    with pytest.raises(RefusedVersion, match=r"no churnguard\.artifact_sha256 tag"):
        load_version(serving_store.uri, uri, version)
    assert load_version(serving_store.uri, uri, version, require_digest=False).digest is None  # opt-out works

    monkeypatch.setenv("CHURNGUARD_MODEL_SIGNING_KEY", "deployment-key")  # the register stage's key
    signed = register(serving_store, serving_store.root / "bundle_v1")
    loaded = load_version(serving_store.uri, f"models:/{MODEL}/{signed}", signed, signing_key="deployment-key")
    assert loaded.version == signed and loaded.digest
    shutil.rmtree(loaded.local_dir, ignore_errors=True)


def test_part_never_evaluated_is_marked_in_every_answer(serving_store):
    bundle = serving_store.root / "bundle_v1"
    if not (bundle / "coldstart" / "part.json").exists():
        pytest.skip("this workspace's bundle has no coldstart part")
    version = register(serving_store, bundle, metrics={"coldstart.n_holdout_cold_start": 0.0})
    cfg = make_config(serving_store, redis={"url": None})
    holder = ModelHolder(serving_store.uri, MODEL, "champion", 0, pinned_uri=f"models:/{MODEL}/{version}")
    holder.start(wait=True)
    client = TestClient(create_app(cfg, holder=holder, start_holder=False), headers={"X-API-Key": API_KEY})
    r = client.post("/v1/predict", json={"customers": [{"customer_id": serving_store.customers[0]}]})
    assert r.status_code == 200 and r.json()["unevaluated_parts"] == ["coldstart"]
    assert client.get("/health").json()["model"]["unevaluated_parts"] == ["coldstart"]
    # the regular versions were evaluated (their runs logged no zero holdout)
    v1 = ModelHolder(serving_store.uri, MODEL, "champion", 0, pinned_uri=f"models:/{MODEL}/1")
    v1.start(wait=True)
    assert v1.current.unevaluated == ()
