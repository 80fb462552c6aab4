"""Bring-your-own CSV ingest and the Great Expectations suite (real GE, no mocks)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnguard.core.config import build, load_params
from churnguard.data.ingest import read_customer_csv
from churnguard.data.validation import WORLD_COLUMNS, ValidateConfig, required_columns, validate_frame

CSV_CFG = load_params()["data"]["csv"]
CSV_COLUMNS = required_columns({"source": "csv", "csv": CSV_CFG})
VALIDATE = build(ValidateConfig, load_params()["validate"], "validate")


def telco_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A Telco-style customer table with about 20 columns and a churn signal."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.55, 0.25, 0.2])
    monthly = np.round(rng.uniform(18, 118, n), 2)
    logit = -1.2 + 1.4 * (contract == "Month-to-month") - 0.04 * tenure + 0.015 * (monthly - 65)
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))
    total = np.round(monthly * tenure, 2).astype(str)
    total[tenure == 0] = " "  # the famous blank TotalCharges of new customers
    yes_no = lambda: rng.choice(["Yes", "No"], n)
    return pd.DataFrame(
        {
            "customerID": [f"{i:04d}-ABCD" for i in range(n)],
            "gender": rng.choice(["Female", "Male"], n),
            "SeniorCitizen": rng.integers(0, 2, n),
            "Partner": yes_no(),
            "Dependents": yes_no(),
            "tenure": tenure,
            "PhoneService": yes_no(),
            "MultipleLines": yes_no(),
            "InternetService": rng.choice(["DSL", "Fiber optic", "No"], n),
            "OnlineSecurity": yes_no(),
            "OnlineBackup": yes_no(),
            "DeviceProtection": yes_no(),
            "TechSupport": yes_no(),
            "StreamingTV": yes_no(),
            "StreamingMovies": yes_no(),
            "Contract": contract,
            "PaperlessBilling": yes_no(),
            "PaymentMethod": rng.choice(["Electronic check", "Mailed check", "Bank transfer", "Credit card"], n),
            "MonthlyCharges": monthly,
            "TotalCharges": total,
            "Churn": np.where(churn, "Yes", "No"),
        }
    )


def test_csv_ingest_maps_columns_reports_duplicates_and_blank_numerics(tmp_path):
    df = telco_frame()
    df = pd.concat([df, df.iloc[[3, 4]], df.iloc[[5]].assign(MonthlyCharges=1.0)], ignore_index=True)
    path = tmp_path / "c.csv"
    df.to_csv(path, index=False)
    out, report = read_customer_csv(path, CSV_CFG)
    assert report.rows_read == 303 and report.rows_written == 300
    assert report.duplicate_ids == 3 and report.conflicting_duplicate_ids == 1
    assert report.blank_numeric_cells.get("total_charges", 0) == int((df["tenure"] == 0).sum()) - 0
    assert {"customer_id", "churn_label", "tenure_months", "monthly_charges", "contract"} <= set(out.columns)
    assert out["total_charges"].dtype.kind == "f" and out["monthly_charges"].dtype.kind == "f"
    assert out["customer_id"].is_unique


def test_valid_csv_passes_the_suite(tmp_path):
    path = tmp_path / "c.csv"
    telco_frame().to_csv(path, index=False)
    df, _ = read_customer_csv(path, CSV_CFG)
    report = validate_frame(df, VALIDATE, ("Yes", "No"), CSV_COLUMNS)
    assert report.success, report.message()


def test_corrupt_batch_names_every_problem(tmp_path):
    df = telco_frame(400)
    df.loc[:4, "tenure"] = -5
    df.loc[df.sample(frac=0.3, random_state=0).index, "MonthlyCharges"] = np.nan
    df.loc[7, "Churn"] = "Maybe"
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    frame, _ = read_customer_csv(path, CSV_CFG)
    frame = frame.drop(columns=["contract"])  # ingest now refuses a missing mapped column; validation still names it
    report = validate_frame(frame, VALIDATE, ("Yes", "No"), CSV_COLUMNS)
    assert not report.success
    msg = report.message()
    problems = {(f.expectation, f.column) for f in report.failures}
    assert ("expect_column_to_exist", "contract") in problems
    assert ("expect_column_values_to_be_between", "tenure_months") in problems
    assert ("expect_column_values_to_not_be_null", "monthly_charges") in problems
    assert ("expect_column_values_to_be_in_set", "churn_label") in problems
    assert "'Maybe'" in msg and "-5" in msg
    assert "30.0%" in msg


def test_world_batch_missing_a_column_fails(tmp_path):
    from churnguard.world import generate_world

    cfg = dict(load_params()["world"], customers=1500)
    generate_world(cfg, 1, tmp_path / "raw", tmp_path / "truth", progress=False)
    df = pd.read_parquet(tmp_path / "raw" / "customers.parquet").drop(columns=["region"])
    report = validate_frame(df, VALIDATE, ("Yes", "No"), WORLD_COLUMNS)
    assert not report.success
    assert ("expect_column_to_exist", "region") in {(f.expectation, f.column) for f in report.failures}


def test_events_checked_in_batches_report_what_one_batch_reports():
    """The click-stream is validated a batch of rows at a time: the merged report must equal the
    whole-table report, uniqueness included (a duplicate id split across two batches is still found)."""
    from churnguard.data.table_suites import TableContext, duplicated_values, events_suite
    from churnguard.data.validation import run_suites

    n = 400
    events = pd.DataFrame(
        {
            "event_id": np.arange(n, dtype=np.int64),
            "user_id": [f"C{i % 20:07d}" for i in range(n)],
            "session_id": np.arange(n, dtype=np.int64) // 4,
            "event_type": ["click"] * n,
            "ts": np.full(n, 1_000, dtype=np.int64),
            "page": ["home"] * n,
            "cart_value": np.zeros(n),
        }
    )
    events.loc[[10, 350], "event_id"] = 7  # a duplicate id in each half (with row 7 itself)
    events.loc[[5, 390], "event_type"] = "teleport"
    ctx = TableContext(
        customer_ids=pd.Index([f"C{i:07d}" for i in range(20)]),
        former_ids=pd.Index([]),
        observation_date=pd.Timestamp("2026-06-30"),
        arms=["none"],
        share_tolerance=0.05,
        duplicated_event_ids=duplicated_values(events["event_id"].to_numpy()),
    )

    def failures(report):
        return sorted((f.expectation, f.column, f.unexpected_count) for f in report.failures)

    whole = run_suites([("events", *events_suite(events, ctx))])["events"]
    halves = run_suites(("events", *events_suite(part, ctx)) for part in (events.iloc[:200], events.iloc[200:]))
    assert not whole.success and failures(whole) == failures(halves["events"])
    assert ("expect_column_values_to_be_in_set", "event_id_is_unique_in_table", 3) in failures(whole)
    assert halves["events"].batches == 2 and halves["events"].rows == n
