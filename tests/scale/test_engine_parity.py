"""The feature table is the same on every engine (pandas, DuckDB, Spark): same columns, dtypes, values."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from churnguard.features.clickstream import EVENT_COLUMNS, session_aggregates, window_bounds
from churnguard.features.table import FeaturesConfig, RawTables, assemble_feature_table

pytestmark = pytest.mark.filterwarnings("ignore")


def _table(params, raw, engine: str):
    cfg = dataclasses.replace(FeaturesConfig(event_window_days=params["features"]["event_window_days"]), engine=engine)
    tables = RawTables.read(raw / "customers.parquet", raw)
    return assemble_feature_table(tables, params["data"], cfg, params["world"]["observation_date"])


@pytest.fixture(scope="module")
def pandas_table(scale_world):
    return _table(*scale_world, "pandas")


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.slow)])  # a local JVM: ~25 s
def test_engine_builds_the_pandas_table_bit_for_bit(scale_world, pandas_table, engine, request):
    if engine == "spark":
        request.getfixturevalue("spark")
    table, schema = _table(*scale_world, engine)
    reference, ref_schema = pandas_table
    pd.testing.assert_frame_equal(table, reference, check_exact=True)
    assert schema == ref_schema
    assert "events" in schema.sources and table["sessions_30d"].sum() > 0


def _per_event_reference(events: pd.DataFrame, obs_ms: int, window: int) -> pd.DataFrame:
    """The definition event by event (sorted sessions, consecutive gaps), as the feature was first written."""
    lo, hi = window_bounds(obs_ms, window)
    ev = events[(events["ts"] >= lo) & (events["ts"] < hi)].sort_values(["session_id", "ts"], kind="stable")
    gap = ev.groupby("session_id")["ts"].diff()
    g = ev.assign(gap=gap, add=ev["event_type"] == "add_to_cart", cancel=ev["page"] == "cancel").groupby("user_id")
    return pd.DataFrame(
        {"gap_mean_ms": g["gap"].mean(), "adds": g["add"].sum(), "cancels": g["cancel"].sum(), "last_ts": g["ts"].max()}
    )


def test_aggregates_match_the_per_event_definition(scale_world):
    params, raw = scale_world
    events = pd.read_parquet(raw / "events.parquet", columns=EVENT_COLUMNS)
    obs_ms = int(pd.Timestamp(params["world"]["observation_date"]).value // 1_000_000)
    agg = session_aggregates(events, obs_ms, 30)
    ref = _per_event_reference(events, obs_ms, 30).reindex(agg.index)
    for col in ("adds", "cancels", "last_ts"):
        np.testing.assert_array_equal(agg[col].to_numpy(), ref[col].to_numpy())
    with np.errstate(invalid="ignore"):
        gap = np.where(agg["gaps"] > 0, agg["gap_ms"] / agg["gaps"], np.nan)
    np.testing.assert_allclose(gap, ref["gap_mean_ms"].to_numpy(), rtol=1e-12)  # one float rounding apart


def test_window_excludes_events_at_and_after_T(scale_world):
    params, raw = scale_world
    events = pd.read_parquet(raw / "events.parquet", columns=EVENT_COLUMNS)
    obs_ms = int(events["ts"].max())  # T = the last event: that event is the future, not a feature
    agg = session_aggregates(events, obs_ms, 30)
    last_user = events.loc[events["ts"].idxmax(), "user_id"]
    assert agg["last_ts"].max() < obs_ms
    assert agg.loc[last_user, "events"] == ((events["user_id"] == last_user) & (events["ts"] < obs_ms)).sum()
