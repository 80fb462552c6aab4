"""Own customer tables: mapping rules, errors that name the setting, CSV / Parquet / PostgreSQL sources.

The SQL test talks to the machine's real PostgreSQL (127.0.0.1:5432, trust auth, database ``test``)
in a schema of its own that it drops afterwards.
"""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from churnguard.core.config import load_params
from churnguard.data.ingest import MappingError, column_key, ingest_source, prepare_customers, read_customer_csv
from churnguard.data.sources import reader_for
from churnguard.data.sources.sql import sql_url
from tests.foundation.test_ingest_validation import telco_frame

PARAMS = load_params()["data"]
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def lowercase_shuffled(df: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """The public Telco file's style: lowercase headers, another column order."""
    out = df.rename(columns=str.lower)
    return out[out.columns.to_series().sample(frac=1.0, random_state=seed).tolist()]


def test_column_key_ignores_case_and_punctuation():
    assert column_key("MonthlyCharges") == column_key("monthly charges") == column_key("Monthly-Charges")


def test_lowercase_reordered_headers_map_with_the_default_settings(tmp_path):
    path = tmp_path / "c.csv"
    lowercase_shuffled(telco_frame(200)).to_csv(path, index=False)
    df, report = read_customer_csv(path, PARAMS["csv"])
    assert {"customer_id", "churn_label", "tenure_months", "monthly_charges", "contract"} <= set(df.columns)
    assert report.rows_written == 200 and report.duplicate_ids == 0


def test_missing_mapped_column_names_the_setting_lists_columns_and_suggests(tmp_path):
    path = tmp_path / "c.csv"
    telco_frame(50).rename(columns={"Churn": "churned"}).to_csv(path, index=False)
    with pytest.raises(MappingError) as err:
        read_customer_csv(path, PARAMS["csv"])
    msg = str(err.value)
    assert "data.csv.label_column" in msg and "'Churn'" in msg
    assert "Did you mean 'churned'?" in msg
    assert "'customerID'" in msg and "'PaymentMethod'" in msg  # every column of the file is listed


def test_ambiguous_match_is_refused():
    raw = telco_frame(20).assign(**{"Monthly Charges": 1.0})
    with pytest.raises(MappingError, match=r"data\.csv\.monthly_charges_column.*several columns"):
        prepare_customers(raw, PARAMS["csv"], "csv")


def test_exact_duplicates_are_counted_and_dedup_that_cannot_run_says_so():
    raw = telco_frame(100).astype(str)
    raw = pd.concat([raw, raw.iloc[:30]], ignore_index=True)
    df, report = prepare_customers(raw, PARAMS["csv"], "csv")
    assert report.duplicate_ids == 30 and report.exact_duplicate_rows == 30 and len(df) == 100
    unmapped = raw.rename(columns={"customerID": "customerid"})  # stays "customerid": not an id
    df, report = prepare_customers(unmapped, dict(PARAMS["csv"], id_column=None), "csv")
    assert report.duplicate_ids is None and report.dedup.startswith("not run")
    assert report.exact_duplicate_rows == 30 and len(df) == 130


def test_unknown_source_is_named():
    with pytest.raises(ValueError, match=r"data\.source must be .*'parquet'.*'sql'"):
        reader_for("excel")


def _same_customers(a: pd.DataFrame, b: pd.DataFrame) -> None:
    cols = ["customer_id", "churn_label", "tenure_months", "monthly_charges", "contract", "total_charges"]
    a = a.sort_values("customer_id").reset_index(drop=True)[cols]
    b = b.sort_values("customer_id").reset_index(drop=True)[cols]
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_parquet_source_matches_the_csv_path(tmp_path):
    frame = telco_frame(150)
    frame.to_csv(tmp_path / "c.csv", index=False)
    typed = frame.assign(TotalCharges=pd.to_numeric(frame["TotalCharges"], errors="coerce"))
    typed.to_parquet(tmp_path / "c.parquet", index=False)
    data = dict(PARAMS, source="parquet", parquet=dict(PARAMS["parquet"], path="c.parquet"))
    report = ingest_source(data, tmp_path, tmp_path / "raw")
    assert report.source == "parquet" and report.rows_written == 150
    via_csv, _ = read_customer_csv(tmp_path / "c.csv", PARAMS["csv"])
    _same_customers(pd.read_parquet(tmp_path / "raw" / "customers.parquet"), via_csv)


def test_sql_url_never_takes_a_password_from_params():
    with pytest.raises(ValueError, match="contains a password"):
        sql_url({"url": "postgresql://u:secret@db/x", "url_env": "CG_NOT_SET"}, environ={})
    assert sql_url({"url": None, "url_env": "CG_URL"}, environ={"CG_URL": "sqlite://"}) == "sqlite://"
    with pytest.raises(ValueError, match="CG_URL"):
        sql_url({"url": None, "url_env": "CG_URL"}, environ={})


@pytest.fixture
def pg_schema():
    """A schema of this test's own in the real PostgreSQL, dropped afterwards."""
    sa = pytest.importorskip("sqlalchemy")
    engine = sa.create_engine(PG_URL)
    schema = f"cg_sources_{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield engine, schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_postgres_table_in_chunks_matches_the_csv_path(tmp_path, pg_schema, monkeypatch):
    engine, schema = pg_schema
    frame = telco_frame(230)
    frame.to_csv(tmp_path / "c.csv", index=False)
    with_dups = pd.concat([frame, frame.iloc[:7]], ignore_index=True)
    with_dups.to_sql("customers", engine, schema=schema, index=False)
    monkeypatch.setenv("CG_TEST_SQL_URL", PG_URL)
    sql = dict(PARAMS["sql"], url_env="CG_TEST_SQL_URL", url=None, schema=schema, table="customers", chunksize=50)
    report = ingest_source(dict(PARAMS, source="sql", sql=sql), tmp_path, tmp_path / "raw")
    assert report.rows_read == 237 and report.duplicate_ids == 7 and report.exact_duplicate_rows == 7
    via_csv, _ = read_customer_csv(tmp_path / "c.csv", PARAMS["csv"])
    _same_customers(pd.read_parquet(tmp_path / "raw" / "customers.parquet"), via_csv)

    query = f'SELECT "customerID", "Churn", tenure, "MonthlyCharges", "Contract" FROM "{schema}".customers'
    df = reader_for("sql")(dict(sql, table=None, query=query), tmp_path)
    assert len(df) == 237 and list(df.columns)[:2] == ["customerID", "Churn"]
