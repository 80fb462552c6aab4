"""The cold-start stages through the real entry points in the tiny workspace (every dvc.yaml stage)."""

from __future__ import annotations

import json

import pandas as pd

from churnguard.core.bundle import ModelBundle


def test_stages_write_part_and_metrics(tiny_workspace):
    root = tiny_workspace.root
    cluster = json.loads((root / "metrics" / "cluster.json").read_text())
    lo, hi = tiny_workspace.params["cluster"]["k_range"]
    assert lo <= cluster["k"] <= hi and cluster["criterion"] == "silhouette"
    assert cluster["silhouette_by_k"][str(cluster["k"])] == max(cluster["silhouette_by_k"].values())
    train = json.loads((root / "metrics" / "train_gnn.json").read_text())
    archs = tiny_workspace.params["train_gnn"]["architectures"]
    assert set(train["gnn_candidates"]) == {*archs, "+".join(archs)}  # each architecture and their mean
    spec = json.loads((root / "models" / "coldstart" / "part.json").read_text())
    assert spec["name"] == "coldstart" and spec["order"] == 10
    metrics = json.loads((root / "metrics" / "coldstart.json").read_text())
    assert metrics["coverage"] == 1.0
    for model in ("cluster_prior", "gbm", "gnn", "ensemble", "oracle"):
        assert model in metrics["cohort"]


def test_bundle_replaces_probability_of_cold_start_rows_only(tiny_workspace):
    root = tiny_workspace.root
    bundle = ModelBundle(root / "models")
    assert "coldstart" in bundle.part_names
    table = pd.read_parquet(root / "data" / "features" / "customers.parquet")
    scores = bundle.predict(table)
    cold = table["is_cold_start"].astype(bool)
    assert scores.loc[cold, "coldstart_probability"].notna().all()
    assert (scores.loc[cold, "churn_probability"] == scores.loc[cold, "coldstart_probability"]).all()
    assert (scores.loc[~cold, "churn_probability"] == scores.loc[~cold, "base_probability"]).all()
    assert set(scores.loc[cold, "coldstart_source"]) <= {"gnn", "cluster_fallback"}
