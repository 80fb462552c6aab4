"""The nightly DAG builds the HTML report for a given logical date; running that date twice gives the same bytes.

Needs the `churnguard sweep` / `churnguard report` commands (CONTRIBUTING contract, written by the
interventions area); skipped with that reason while they are not in components/cli/__init__.py.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.orchestration.conftest import PIPELINE_REPO, AirflowEnv, DagRunResult

DATE = "2026-07-01"
SHARDS = 2


def _missing() -> list[str]:
    """What the pipeline tree the DAGs run (PIPELINE_REPO) lacks for the nightly report."""
    cli = (PIPELINE_REPO / "components" / "cli" / "__init__.py").read_text()
    missing = [f"`churnguard {c}` command" for c in ("sweep", "report") if f'"{c}":' not in cli]
    if "models/interventions" not in (PIPELINE_REPO / "dvc.yaml").read_text():
        missing.append("a dvc.yaml stage producing models/interventions (the part the sweep scores)")
    return missing


@pytest.fixture(scope="module")
def nightly_env(request, airflow_env: AirflowEnv) -> AirflowEnv:
    missing = _missing()
    if missing:
        pytest.skip(
            f"pipeline at {PIPELINE_REPO} lacks {' and '.join(missing)} (interventions area, "
            "CONTRIBUTING contract); the nightly DAG cannot run without them"
        )
    trained: DagRunResult = request.getfixturevalue("trained")
    assert trained.state == "success", trained.explain()
    (workspace,) = [p for p in airflow_env.runs_dir.iterdir() if p.is_dir()]
    # The sweep reads the trained workspace's features; champion from the same MLflow store.
    return AirflowEnv(airflow_env.root, extra={"CHURNGUARD_HOME": str(workspace)})


def test_nightly_report_for_a_date_is_reproducible(nightly_env: AirflowEnv):
    first = nightly_env.dags_test("nightly_scenario_report", {"shards": SHARDS}, logical_date=DATE)
    print(f"nightly run 1: {first.state} in {first.seconds:.0f} s; tasks {first.tasks}")
    assert first.state == "success", first.explain()
    assert [k for k in first.tasks if k.startswith("sweep[")] == [f"sweep[{i}]" for i in range(SHARDS)] or sorted(
        k for k in first.tasks if k.startswith("sweep[")
    ) == [f"sweep[{i}]" for i in range(SHARDS)]
    day = nightly_env.reports_dir / "nightly" / DATE
    report = day / "report.html"
    assert report.exists(), sorted(p.name for p in day.rglob("*"))
    assert sorted(p.name for p in (day / "sweep").glob("shard-*.parquet")) == [
        f"shard-{i}.parquet" for i in range(SHARDS)
    ]
    pinned = json.loads((day / "champion.json").read_text())
    digest = hashlib.sha256(report.read_bytes()).hexdigest()
    assert DATE in report.read_text()

    second = nightly_env.dags_test("nightly_scenario_report", {"shards": SHARDS}, logical_date=DATE)
    print(f"nightly run 2: {second.state} in {second.seconds:.0f} s")
    assert second.state == "success", second.explain()
    assert json.loads((day / "champion.json").read_text()) == pinned
    assert hashlib.sha256(report.read_bytes()).hexdigest() == digest, "same date, different report bytes"
