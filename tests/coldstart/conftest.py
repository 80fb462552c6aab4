"""A tiny synthetic world and a cold-start part fitted on it (seconds, no DVC)."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
import yaml

from churnguard.coldstart.clusters import fit_clusters
from churnguard.coldstart.training import fit_coldstart
from churnguard.core.vocabulary import LABEL, SPLIT
from churnguard.features.table import build_feature_table
from churnguard.world import generate_world
from tests.workspace import REPO, deep_merge


@pytest.fixture(scope="session")
def tiny_params() -> dict:
    params = deep_merge(
        yaml.safe_load((REPO / "params.yaml").read_text()),
        yaml.safe_load((REPO / "tests" / "tiny_params.yaml").read_text()),
    )
    params["world"]["customers"] = 1500
    params["world"]["cold_start_share"] = 0.15  # enough cold-start customers to validate on
    return params


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory, tiny_params):
    root = tmp_path_factory.mktemp("coldstart_world")
    raw, truth = root / "raw", root / "truth"
    generate_world(tiny_params["world"], 7, raw, truth, progress=False)
    table, _schema = build_feature_table(
        raw / "customers.parquet",
        raw,
        tiny_params["data"],
        tiny_params["features"],
        tiny_params["world"]["observation_date"],
    )
    return table, raw


@pytest.fixture(scope="session")
def fitted(tiny_world, tiny_params):
    table, raw = tiny_world
    torch.manual_seed(0)
    rows = table[(table[SPLIT] == "train") & ~table["is_cold_start"].astype(bool)]
    cluster = fit_clusters(rows, rows[LABEL].to_numpy(), tiny_params["cluster"], 0)
    cfg = copy.deepcopy(tiny_params["train_gnn"])
    graph = (pd.read_parquet(raw / "referrals.parquet"), pd.read_parquet(raw / "former_customers.parquet"))
    part, metrics = fit_coldstart(table, graph, cluster, cfg)
    return part, metrics, table, raw


@pytest.fixture
def new_customers(tiny_world) -> pd.DataFrame:
    """Three unseen customers: two with referral edges to existing customers, one without."""
    table, raw = tiny_world
    former = pd.read_parquet(raw / "former_customers.parquet")["customer_id"].tolist()
    known = table.loc[~table["is_cold_start"].astype(bool), "customer_id"].tolist()
    base = {
        "age": 31,
        "income_band": "mid",
        "region": "north",
        "plan": "basic",
        "contract": "month_to_month",
        "payment_method": "electronic_check",
        "paperless_billing": 1,
        "monthly_charges": 52.0,
        "is_cold_start": 1,
    }
    rows = [
        {**base, "customer_id": "NEW1", "signup_channel": "referral", "referral_ids": [known[0], former[0]]},
        {**base, "customer_id": "NEW2", "signup_channel": "referral", "age": 58, "referral_ids": [known[5]]},
        {**base, "customer_id": "NEW3", "signup_channel": "web", "referral_ids": []},
    ]
    return pd.DataFrame(rows)
