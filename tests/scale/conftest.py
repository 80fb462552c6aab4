"""Fixtures of the scale tests: one tiny synthetic world, one local Spark session (both per session)."""

from __future__ import annotations

import copy
import os

import pytest

from churnguard.core.config import load_params
from churnguard.world import generate_world


@pytest.fixture(scope="session")
def scale_world(tmp_path_factory):
    """A 3,000-customer world on disk: (params, raw folder)."""
    params = copy.deepcopy(load_params())
    params["world"]["customers"] = 3000
    params["world"]["events"]["chunk_customers"] = 1000  # several row groups, as a large world has
    root = tmp_path_factory.mktemp("scale_world")
    generate_world(params["world"], 5, root / "raw", root / "truth", progress=False)
    return params, root / "raw"


@pytest.fixture(scope="session")
def spark():
    """A local-mode SparkSession with one worker thread and a small footprint (Java 17 on the machine)."""
    pytest.importorskip("pyspark")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from churnguard.features.engines.settings import SparkSettings
    from churnguard.features.engines.spark import spark_session

    session = spark_session(
        SparkSettings(
            master="local[1]", driver_memory="1g", shuffle_partitions=2, conf={"spark.ui.showConsoleProgress": "false"}
        )
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
