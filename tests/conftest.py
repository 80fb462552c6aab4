"""Shared fixtures. Area-specific fixtures live in each area's own conftest."""

from __future__ import annotations

import importlib.machinery
import sys

import pytest

from tests.workspace import Workspace

# A pytest-xdist worker's __main__ (execnet) has neither __spec__ nor __file__, which pyspark reads as
# "running doctests": importing pyspark.sql.connect (great_expectations does) then calls sys.exit(0).
# Give the worker's __main__ a module spec named "__main__": pyspark then sees an initialised main module,
# and multiprocessing's spawn skips re-running it in children (a made-up __file__ made every spawned
# child, e.g. serving's shadow process, die trying to run that file).
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)

# The real-browser fixtures (`browser`, `page`) are registered once for the whole session: importing
# them into several test modules would start one Playwright per module, and Playwright's sync API
# refuses to start inside another's running event loop.
pytest_plugins = ["tests.browser"]


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory) -> Workspace:
    """A tiny synthetic world run through every DVC stage (register included), once per session."""
    ws = Workspace.create(tmp_path_factory.mktemp("tiny_ws"))
    ws.run_until()
    return ws


# Parallel runs (`make test` uses pytest-xdist with --dist loadgroup): the tests sharing an expensive
# session fixture form one group, and a group runs on one worker, so the fixture is built once, not
# once per worker. Every other test is scheduled on its own, wherever a worker is free (grouping whole
# areas measured slower: 14:21 against 12:59, one worker left with the long tail).
SHARED_FIXTURE_GROUPS = {
    "tiny_workspace": "tiny-workspace",
    "standalone": "airflow-standalone",
    "airflow_env": "airflow-dags-test",
    "trained": "airflow-dags-test",
}


def xdist_group_of(item: pytest.Item) -> str | None:
    names = set(getattr(item, "fixturenames", ()))
    return next((group for fixture, group in SHARED_FIXTURE_GROUPS.items() if fixture in names), None)


# Fixtures that start or talk to a real service (Kafka-protocol broker, Redis, an MLflow store, Airflow,
# a browser) or run pipeline stages as subprocesses: a test using one is an integration test, which
# `make test-fast` (the inner loop: -m "not slow and not integration") leaves to `make test`.
INTEGRATION_FIXTURES = {
    "broker",
    "redis_db1",
    "stream_cfg",
    "stream_workspace",  # tests/streaming
    "serving_store",
    "redis_prefix",  # tests/serving
    "iv_workspace",
    "zero_effect_workspace",  # tests/interventions
    "tiny_workspace",
    "airflow_env",
    "standalone",
    "trained",  # whole pipelines, Airflow
    "browser",
    "page",  # Chromium
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        group = xdist_group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
            _suffix_group(config, item, group)
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
    # The longest groups (Airflow) first, so they do not start last on a worker that is already busy.
    items.sort(key=lambda item: not (xdist_group_of(item) or "").startswith("airflow"))


def _suffix_group(config, item: pytest.Item, group: str) -> None:
    """--dist loadgroup schedules by an ``@<group>`` suffix of each node id. pytest-xdist 3.8 writes it
    to ``item._nodeid``, which pytest 9.2 no longer reads (the id is the structured ``item._id``): the
    suffix never appeared and every group was spread over both workers, each building the tiny
    workspace and the training DAG run again. Written here into the structured id instead."""
    if not config.getvalue("loadgroup") or "@" in item.nodeid or not hasattr(item, "_id"):
        return
    from _pytest.nodeid import NodeId

    item._id = NodeId.parse(f"{item.nodeid}@{group}")
