"""The click-stream aggregates on Apache Spark: the same SQL (:mod:`.sql`) over the events Parquet.

Local mode on one machine (``local[N]``), or any cluster: ``master`` from params, or leave it to
``spark-submit`` (docs/scaling.md, with data on object storage: an ``s3a://`` path works as well).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from churnguard.features.clickstream import window_bounds
from churnguard.features.engines.settings import SparkSettings
from churnguard.features.engines.sql import clickstream_sql


def spark_session(cfg: SparkSettings) -> Any:
    """The active SparkSession, or a new one built from the settings (arrow transfer on)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # Python workers run this interpreter (else `python3` on PATH, without the project's packages)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName("churnguard")
        .master(cfg.master)
        .config("spark.driver.memory", cfg.driver_memory)
        .config("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
    )
    for key, value in cfg.conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def spark_aggregates(events: Path | str, observation_ms: int, window_days: int, cfg: SparkSettings) -> pd.DataFrame:
    """Per-customer aggregates (index user_id) of ``events`` in [T - window, T)."""
    spark = spark_session(cfg)
    spark.read.parquet(str(events)).createOrReplaceTempView("churnguard_events")
    lo, hi = window_bounds(observation_ms, window_days)
    out = spark.sql(clickstream_sql("churnguard_events", lo, hi)).toPandas()
    return out.set_index("user_id")
