"""What `register` leaves in MLflow, on the workspace the training DAG produced (tiny world).

Re-registers that workspace's models in a private copy with the *committed* gates: a small run is
registered (signature, input example, description, telling run name, nested stage runs, curve PNGs)
but never becomes champion (register.gates.min_customers).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.orchestration.conftest import PIPELINE_REPO, PROJECT_BIN, AirflowEnv, DagRunResult

COPY = ("data/features", "models", "metrics", "plots", "params.yaml")


def _reregister(workspace: Path, home: Path) -> subprocess.CompletedProcess:
    for rel in COPY:
        (shutil.copytree if (workspace / rel).is_dir() else shutil.copy2)(workspace / rel, home / rel)
    params = yaml.safe_load((home / "params.yaml").read_text())
    params["register"]["gates"] = yaml.safe_load((PIPELINE_REPO / "params.yaml").read_text())["register"]["gates"]
    (home / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURNGUARD_"))}
    env.update(
        CHURNGUARD_HOME=str(home),
        MLFLOW_TRACKING_URI=f"sqlite:///{home / 'mlflow.db'}",
        CHURNGUARD_ARTIFACT_ROOT=(home / "artifacts").as_uri(),
        PYTHONPATH=str(PIPELINE_REPO),
    )
    return subprocess.run(
        [str(PROJECT_BIN / "python"), "-m", "pipelines.register"],
        cwd=PIPELINE_REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_small_run_is_registered_with_its_story_but_not_champion(
    trained: DagRunResult, airflow_env: AirflowEnv, tmp_path
):
    assert trained.state == "success", trained.explain()
    (workspace,) = [p for p in airflow_env.runs_dir.iterdir() if (p / "metrics" / "registration.json").exists()][:1]
    home = tmp_path / "home"
    home.mkdir()
    proc = _reregister(workspace, home)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for noise in ("serialized using CloudPickle", "Failed to infer signature", "Decorate your function"):
        assert noise not in proc.stdout + proc.stderr, noise
    reg = json.loads((home / "metrics" / "registration.json").read_text())
    assert reg["champion"] is False and any("customers" in r for r in reg["reasons"]), reg

    from mlflow import MlflowClient

    store = f"sqlite:///{home / 'mlflow.db'}"
    # the registry URI too: an earlier in-process mlflow.set_registry_uri() leaves MLFLOW_REGISTRY_URI set
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    mv = client.get_model_version(reg["model"], str(reg["version"]))
    assert "world of 2500 customers" in mv.description and "seed 7" in mv.description and "roc_auc" in mv.description
    run = client.get_run(reg["run_id"])
    assert run.info.run_name.startswith("synthetic-2500c-seed7-"), run.info.run_name
    assert {"roc_auc", "customers", "brier"} <= set(run.data.metrics) and len(run.data.metrics) < 40
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert {"base", "cv", "harden"} <= {c.info.run_name for c in children}
    curves = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "curves")}
    assert curves == {"roc.png", "calibration.png", "lift.png"}
    from mlflow.models import get_model_info

    import mlflow

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")  # get_model_info reads the global store
    try:
        info = get_model_info(mv.source)
    finally:
        mlflow.set_tracking_uri(before)
    assert info.signature is not None and info.saved_input_example_info is not None
    assert "churn_probability" in str(info.signature.outputs)
