"""The DVC stages end to end on tiny data, against a real MLflow store (SQLite file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import yaml

from tests.foundation.test_ingest_validation import telco_frame
from tests.workspace import REPO, Workspace, stage_names

pytestmark = pytest.mark.integration


def _mlflow_client(ws: Workspace):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(ws.env["MLFLOW_TRACKING_URI"])
    return MlflowClient(tracking_uri=ws.env["MLFLOW_TRACKING_URI"], registry_uri=ws.env["MLFLOW_TRACKING_URI"])


def test_pipeline_registers_a_champion_with_oracle_metrics(tiny_workspace):
    ws = tiny_workspace
    base = json.loads((ws.root / "metrics" / "base.json").read_text())
    assert base["oracle"]["roc_auc"] > 0.5 and base["model"]["roc_auc"] > 0.5
    # metrics files hold 4 decimals (churnguard.core.metrics.write_metrics)
    assert base["roc_auc_ratio_to_oracle"] == pytest.approx(
        base["model"]["roc_auc"] / base["oracle"]["roc_auc"], abs=2e-4
    )
    reg = json.loads((ws.root / "metrics" / "registration.json").read_text())
    client = _mlflow_client(ws)
    champion = client.get_model_version_by_alias("churnguard", "champion")
    assert reg["champion"] is True and str(champion.version) == str(reg["version"])
    assert champion.tags["git_commit"] and len(champion.tags["dvc_data_hash"]) == 32
    assert "base" in champion.tags["parts"].split(",")
    assert (ws.root / "reports" / "data_docs" / "index.html").exists()


def test_champion_bundle_loads_from_registry_and_scores(tiny_workspace):
    code = textwrap.dedent("""
        import pandas as pd
        from churnguard.mlops.registry import load_bundle
        b = load_bundle("models:/churnguard@champion")
        t = pd.read_parquet("data/features/customers.parquet").head(50)
        s = b.predict(t)
        assert s["churn_probability"].between(0, 1).all() and len(s) == 50
        print("OK", b.part_names)
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tiny_workspace.root, env=tiny_workspace.env, capture_output=True, text=True
    )
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-2000:]


def test_worse_model_is_not_promoted(tiny_workspace):
    """A bundle that scores at random stays off the alias, with the reason."""
    import numpy as np

    from churnguard.mlops.promotion import decide
    from churnguard.mlops.registry import check_gates

    ws = tiny_workspace
    os.environ["MLFLOW_TRACKING_URI"] = ws.env["MLFLOW_TRACKING_URI"]
    try:
        client = _mlflow_client(ws)
        table = pd.read_parquet(ws.root / "data" / "features" / "customers.parquet")
        holdout = table[table["split"] == "holdout"].reset_index(drop=True)

        class RandomBundle:
            def predict(self, features):
                rng = np.random.default_rng(0)
                return pd.DataFrame({"churn_probability": rng.random(len(features))}, index=features.index)

        metrics = {"roc_auc": 0.9, "brier": 0.1, "top_decile_lift": 3.0}  # passes the gates on paper
        assert check_gates(metrics, {"min_roc_auc": 0.7, "max_brier": 0.2}).passed
        decision = decide(
            client,
            "churnguard",
            "champion",
            "999",
            metrics,
            {"min_roc_auc": 0.7},
            0.0,
            RandomBundle(),
            holdout,
            holdout["churned"].to_numpy(),
        )
        assert not decision.promoted
        assert any("champion" in r for r in decision.reasons)
        assert decision.champion_auc > decision.candidate_auc
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)


def test_model_stages_never_open_the_truth(tiny_workspace):
    """Only evaluation stages may declare data/truth, and every other stage (ingest writes it) must not open it."""
    ws = tiny_workspace
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    readers = {name for name, s in stages.items() if any(str(d).startswith("data/truth") for d in s.get("deps", []))}
    assert readers and all(name.startswith("evaluate") for name in readers), readers
    blind = [name for name in stages if name != "ingest" and name not in readers]
    assert {"validate", "features", "train_base", "harden", "fit_counterfactual", "sweep", "register"} <= set(blind)
    for name in blind:  # tiny_workspace ran every stage under the audit hook of tests/workspace.py
        opened = ws.truth_opened(name)
        assert opened is not None, f"stage {name} did not run in the tiny workspace"
        assert opened == [], f"stage {name} opened ground truth: {opened}"
    assert ws.truth_opened("evaluate"), "the audit sees nothing: the evaluate stage must read the truth"


def _csv_workspace(tmp_path, frame: pd.DataFrame) -> Workspace:
    ws = Workspace.create(tmp_path, {"data": {"source": "csv", "csv": {"path": "data/external/customers.csv"}}})
    frame.to_csv(ws.root / "data" / "external" / "customers.csv", index=False)
    return ws


def test_telco_csv_runs_end_to_end(tmp_path):
    ws = _csv_workspace(tmp_path, telco_frame(800, seed=3))
    ws.run_until()
    base = json.loads((ws.root / "metrics" / "base.json").read_text())
    assert base["oracle"] is None and base["model"]["roc_auc"] > 0.6
    reg = json.loads((ws.root / "metrics" / "registration.json").read_text())
    assert reg["data_source"] == "csv" and str(reg["version"]) == "1"
    features = json.loads((ws.root / "data" / "features" / "schema.json").read_text())
    assert "events" in features["skipped"] and "referrals" in features["skipped"]
    logs = "\n".join(ws.log)
    assert "skipped events" in logs
    # stages needing a campaign or behaviour say so and the bundle simply lacks their parts
    assert "skipped interventions: no randomized retention campaign" in logs
    assert "skipped protection:" in logs
    assert "interventions" not in reg["parts"] and "protection" not in reg["parts"] and "base" in reg["parts"]


def test_corrupt_batch_stops_at_validate_and_registers_nothing(tmp_path):
    frame = telco_frame(500, seed=4)
    frame.loc[:3, "tenure"] = -2
    frame.loc[frame.sample(frac=0.3, random_state=1).index, "MonthlyCharges"] = None
    frame.loc[9, "Churn"] = "Unknown"
    ws = _csv_workspace(tmp_path, frame)
    ws.run_stage("ingest")
    # ingest refuses a mapped column the file lacks, so the batch loses `contract` after ingest
    raw = ws.root / "data" / "raw" / "customers.parquet"
    pd.read_parquet(raw).drop(columns=["contract"]).to_parquet(raw, index=False)
    proc = ws.run_stage("validate", check=False)
    assert proc.returncode != 0
    for needle in ("'contract'", "'tenure_months'", "'monthly_charges'", "'churn_label'", "'Unknown'"):
        assert needle in proc.stdout, f"{needle} not named in:\n{proc.stdout}"
    assert not (ws.root / "data" / "validated" / "customers.parquet").exists()
    # what DVC would do next: nothing, since validate's outs are missing; register has nothing to read
    assert not (ws.root / "mlflow.db").exists()
    assert stage_names().index("validate") < stage_names().index("register")
