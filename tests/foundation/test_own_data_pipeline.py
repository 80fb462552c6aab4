"""Own data end to end: a Telco-style CSV (lowercase, reordered headers, exact duplicate rows) through
ingest -> validate -> features -> train_base -> evaluate, scored against a plain scikit-learn logistic
regression on the same split; and the ingest stage's error when a mapped column is missing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.foundation.test_ingest_validation import telco_frame
from tests.foundation.test_sources import lowercase_shuffled
from tests.workspace import Workspace

pytestmark = pytest.mark.integration  # runs pipeline stages as subprocesses

CSV = {"data": {"source": "csv", "csv": {"path": "data/external/customers.csv"}}}


def plain_logistic_regression_auc(table: pd.DataFrame, schema: dict) -> float:
    """What a new user would try first: one-hot + scaled numerics + LogisticRegression, same split."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cols = schema["categorical"] + schema["numeric"]
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), schema["categorical"]),
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), schema["numeric"]),
        ]
    )
    model = make_pipeline(prep, LogisticRegression(max_iter=2000))
    train, hold = table[table["split"] == "train"], table[table["split"] == "holdout"]
    model.fit(train[cols], train["churned"])
    return float(roc_auc_score(hold["churned"], model.predict_proba(hold[cols])[:, 1]))


def test_telco_style_csv_with_duplicates_matches_plain_logistic_regression(tmp_path):
    frame = telco_frame(1600, seed=11)
    copies = frame.sample(480, random_state=2)
    messy = lowercase_shuffled(pd.concat([frame, copies], ignore_index=True).sample(frac=1.0, random_state=3))
    ws = Workspace.create(tmp_path, CSV)
    messy.to_csv(ws.root / "data" / "external" / "customers.csv", index=False)
    for stage in ("ingest", "validate", "features", "train_base", "evaluate"):
        ws.run_stage(stage)
    ingest = json.loads((ws.root / "data" / "raw" / "ingest_report.json").read_text())
    assert ingest["rows_read"] == 2080 and ingest["rows_written"] == 1600
    assert ingest["duplicate_ids"] == 480 and ingest["exact_duplicate_rows"] == 480

    table = pd.read_parquet(ws.root / "data" / "features" / "customers.parquet")
    schema = json.loads((ws.root / "data" / "features" / "schema.json").read_text())
    assert table["customer_id"].is_unique and len(table) == 1600
    assert {"events", "referrals", "campaign"} <= set(schema["skipped"])
    base = json.loads((ws.root / "metrics" / "base.json").read_text())["model"]["roc_auc"]
    plain = plain_logistic_regression_auc(table, schema)
    print(f"base model ROC AUC {base:.4f} vs plain logistic regression {plain:.4f}")
    assert plain > 0.6  # the generated churn signal is learnable: the comparison means something
    assert base >= plain - 0.005, (base, plain)


def test_ingest_stage_stops_on_a_missing_mapped_column(tmp_path):
    ws = Workspace.create(tmp_path, CSV)
    telco_frame(80).rename(columns={"MonthlyCharges": "monthly_fee"}).to_csv(
        ws.root / "data" / "external" / "customers.csv", index=False
    )
    proc = ws.run_stage("ingest", check=False)
    assert proc.returncode != 0
    assert "data.csv.monthly_charges_column" in proc.stderr and "'monthly_fee'" in proc.stderr
    assert not (ws.root / "data" / "raw" / "customers.parquet").exists()


def test_validate_stage_checks_every_table_of_the_world(tmp_path):
    ws = Workspace.create(tmp_path, {"world": {"customers": 1500}})
    ws.run_stage("ingest")
    ws.run_stage("validate")
    metrics = json.loads((ws.root / "metrics" / "validation.json").read_text())
    assert set(metrics["tables"]) == {"customers", "events", "referrals", "campaign"}
    assert metrics["success"] and all(t["evaluated"] >= 10 for t in metrics["tables"].values())

    # an event after the observation date and a referral from nobody: validate stops and says where
    raw = ws.root / "data" / "raw"
    events = pd.read_parquet(raw / "events.parquet")
    obs_ms = int(pd.Timestamp(ws.params["world"]["observation_date"]).value // 1_000_000)
    events.loc[events.index[:3], "ts"] = obs_ms + 3_600_000
    events.to_parquet(raw / "events.parquet", index=False)
    refs = pd.read_parquet(raw / "referrals.parquet")
    refs.loc[refs.index[0], "referrer_id"] = "nobody"
    refs.to_parquet(raw / "referrals.parquet", index=False)
    proc = ws.run_stage("validate", check=False)
    assert proc.returncode == 1
    assert "events: column 'ms_before_observation': 3 unexpected" in proc.stdout
    assert "referrals: column 'referrer_id_is_known_customer': 1 unexpected" in proc.stdout
    assert not np.isnan(json.loads((ws.root / "metrics" / "validation.json").read_text())["failed"])
