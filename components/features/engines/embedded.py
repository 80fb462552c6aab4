"""The click-stream aggregates on DuckDB: the events Parquet scanned out of core, memory bounded.

DuckDB streams the Parquet file through a parallel hash aggregation that spills to disk past
``memory_limit``, so memory does not grow with the event table (docs/scaling.md has the curve).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from churnguard.core.threads import cpu_share
from churnguard.features.clickstream import window_bounds
from churnguard.features.engines.settings import DuckDBSettings
from churnguard.features.engines.sql import clickstream_sql


def _parquet_glob(events: Path) -> str:
    path = Path(events)
    target = path / "**" / "*.parquet" if path.is_dir() else path
    return str(target).replace("'", "''")


def duckdb_aggregates(events: Path, observation_ms: int, window_days: int, cfg: DuckDBSettings) -> pd.DataFrame:
    """Per-customer aggregates (index user_id) of ``events`` in [T - window, T)."""
    import duckdb

    lo, hi = window_bounds(observation_ms, window_days)
    query = clickstream_sql(f"read_parquet('{_parquet_glob(events)}')", lo, hi)
    with tempfile.TemporaryDirectory(prefix="cg-duckdb-", dir=cfg.temp_directory) as spill:
        settings: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": cfg.memory_limit,
            "threads": cpu_share(),
            "temp_directory": spill,
            "preserve_insertion_order": False,
        }
        with duckdb.connect(":memory:", config=settings) as con:
            out = con.sql(query).df()
    return out.set_index("user_id")
