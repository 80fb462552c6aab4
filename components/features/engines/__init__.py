"""Engines that compute the click-stream aggregates of :mod:`churnguard.features.clickstream`.

``pandas`` holds the whole event table in memory (the reference); ``duckdb`` scans the Parquet file
out of core with a memory limit (spilling to disk), one machine; ``spark`` runs the same SQL on
Apache Spark (local mode here, a cluster beyond one machine). All return the same integer
aggregates, so the feature tables are identical (tests/scale/test_engine_parity.py).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from churnguard.features.clickstream import EVENT_COLUMNS, session_aggregates
from churnguard.features.engines.settings import EngineSettings

ENGINES = ("pandas", "duckdb", "spark")


def clickstream_aggregates(
    events: Path, observation_ms: int, window_days: int, settings: EngineSettings
) -> pd.DataFrame:
    """Per-customer aggregates (index user_id) of the events Parquet file (or folder) on ``settings.engine``."""
    if settings.engine == "pandas":
        frame = pd.read_parquet(events, columns=EVENT_COLUMNS)
        return session_aggregates(frame, observation_ms, window_days)
    if settings.engine == "duckdb":
        from churnguard.features.engines.embedded import duckdb_aggregates

        return duckdb_aggregates(events, observation_ms, window_days, settings.duckdb)
    if settings.engine == "spark":
        from churnguard.features.engines.spark import spark_aggregates

        return spark_aggregates(events, observation_ms, window_days, settings.spark)
    raise ValueError(f"features.engine: {settings.engine!r} is not one of {', '.join(ENGINES)}")
