"""The monitor DAG on a two-month toy world (`airflow dags test`, the real DAG in Airflow's venv).

A concept shift from month 1 (a price cut for high payers, strong enough for a 2,500-customer world)
must raise the early-outcome alarm on month 2, and the DAG must trigger the training DAG with
``register.challenger``; that triggered run, executed with its own run id and conf, registers a
version carrying alias ``challenger`` and never ``champion`` (tiny params let a small world pass the
gates, so only the challenger rule keeps it from champion). A stable toy world must hold: no
trigger. The champion is the version the session's training DAG run registered (``trained``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml

from churnguard.mlops.orchestration import safe_name
from tests.orchestration.conftest import AirflowEnv, DagRunResult, tiny_overrides

MONTHS = 2
TRAINING = {"source": "synthetic", "seed": 7}  # as the `trained` fixture's run: only register reruns


def toy_world(workspace: Path, out: Path, scenario: str) -> Path:
    from churnguard.world.rolling import generate_timeline
    from churnguard.world.timeline import timeline_config

    params = yaml.safe_load((workspace / "params.yaml").read_text())
    timeline = timeline_config(params["monitor"]["timeline"])
    shift = dataclasses.replace(timeline.scenarios.concept_shift, start=1, strength=2.0)
    timeline = dataclasses.replace(timeline, scenarios=dataclasses.replace(timeline.scenarios, concept_shift=shift))
    generate_timeline(params["world"], int(params["data"]["seed"]), timeline, scenario, MONTHS, out)
    return out


@pytest.fixture(scope="module")
def monitoring(trained: DagRunResult, airflow_env: AirflowEnv, tmp_path_factory) -> dict:
    assert trained.state == "success", trained.explain()
    (workspace,) = [p for p in airflow_env.runs_dir.iterdir() if p.is_dir()]
    version = json.loads((workspace / "metrics" / "registration.json").read_text())["version"]
    root = tmp_path_factory.mktemp("monitor")
    env = AirflowEnv(
        airflow_env.root,
        extra={"CHURNGUARD_HOME": str(workspace), "CHURNGUARD_RUNS_DIR": str(root / "runs")},
    )
    return {"env": env, "workspace": workspace, "root": root, "model_uri": f"models:/churnguard/{version}"}


def _conf(monitoring: dict, data: Path) -> dict:
    training = {**TRAINING, "overrides": tiny_overrides()}
    return {"data": str(data), "model_uri": monitoring["model_uri"], "training": training}


def _training_runs(env: AirflowEnv) -> list[tuple[str, dict]]:
    with sqlite3.connect(env.db) as con:
        rows = con.execute("SELECT run_id, conf FROM dag_run WHERE dag_id = 'churn_training' ORDER BY id").fetchall()
    return [(run_id, json.loads(conf or "{}")) for run_id, conf in rows]


def _aliases(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT alias, version FROM registered_model_aliases WHERE name = 'churnguard'").fetchall()
    return {alias: str(version) for alias, version in rows}


def test_stable_world_holds(monitoring: dict):
    env: AirflowEnv = monitoring["env"]
    before = _training_runs(env)
    data = toy_world(monitoring["workspace"], monitoring["root"] / "stable", "stable")
    result = env.dags_test("monitor", _conf(monitoring, data))
    print(f"monitor DAG, stable world: {result.state} in {result.seconds:.0f} s; tasks {result.tasks}")
    assert result.state == "success", result.explain()
    assert result.tasks == {"monitor": "success", "retrain_needed": "success", "trigger_training": "skipped"}
    decision = json.loads((env.reports_dir / "monitor" / _dir(result.run_id) / "monitor.json").read_text())
    assert decision["retrain"] is False and decision["reasons"] == [], decision["reasons"]
    assert _training_runs(env) == before


def test_concept_shift_triggers_training_into_challenger_never_champion(monitoring: dict):
    env: AirflowEnv = monitoring["env"]
    before = _training_runs(env)
    data = toy_world(monitoring["workspace"], monitoring["root"] / "concept", "concept_shift")
    result = env.dags_test("monitor", _conf(monitoring, data))
    print(f"monitor DAG, concept shift: {result.state} in {result.seconds:.0f} s; tasks {result.tasks}")
    assert result.state == "success", result.explain()
    assert set(result.tasks.values()) == {"success"}, result.explain()
    out = env.reports_dir / "monitor" / _dir(result.run_id)
    decision = json.loads((out / "monitor.json").read_text())
    assert decision["month"] == MONTHS and decision["retrain"] and decision["performance_alarm"], decision
    assert any(r.startswith("early outcomes") for r in decision["reasons"]), decision["reasons"]
    assert re.search(r"^churnguard_retrain_recommended\{.*\} 1\.0$", (out / "metrics.prom").read_text(), re.M)
    assert (out / "report.html").read_text().count("data:image/png;base64,") >= 3
    with sqlite3.connect(env.mlflow_db) as con:
        logged = con.execute(
            "SELECT m.value FROM metrics m JOIN runs r ON m.run_uuid = r.run_uuid JOIN experiments e "
            "ON r.experiment_id = e.experiment_id WHERE e.name = 'churnguard-monitoring' "
            "AND m.key = 'churnguard_retrain_recommended'"
        ).fetchall()
    assert (1.0,) in logged

    (triggered,) = [run for run in _training_runs(env) if run not in before]
    run_id, conf = triggered
    assert conf["overrides"]["register.challenger"] == "challenger", conf
    assert {k: v for k, v in conf["overrides"].items() if k != "register.challenger"} == tiny_overrides()
    champion_before = _aliases(env.mlflow_db).get("champion")
    tasks = run_triggered_training(monitoring, env, run_id)
    assert tasks["prepare_workspace"] == tasks["register"] == "success", tasks
    workspace = monitoring["root"] / "runs" / safe_name(run_id)
    assert yaml.safe_load((workspace / "params.yaml").read_text())["register"]["challenger"] == "challenger"
    registration = json.loads((workspace / "metrics" / "registration.json").read_text())
    aliases = _aliases(env.mlflow_db)
    assert registration["challenger_alias"] == "challenger" and registration["champion"] is False, registration
    assert aliases["challenger"] == str(registration["version"]), aliases
    assert aliases.get("champion") == champion_before != str(registration["version"]), aliases


def run_triggered_training(monitoring: dict, env: AirflowEnv, run_id: str) -> dict[str, str | None]:
    """The triggered run's own tasks (its run id, so its conf): ``prepare_workspace``, then ``register``.
    Its workspace starts as a copy of the trained one, so ``dvc repro`` reruns only what the conf
    changed (register; the tasks of the stages DVC finds up to date are not run)."""
    shutil.copytree(monitoring["workspace"], monitoring["root"] / "runs" / safe_name(run_id), symlinks=True)
    for task in ("prepare_workspace", "register"):
        env.airflow("tasks", "test", "churn_training", task, run_id, timeout=600)
    return env.task_states("churn_training", run_id)


def _dir(run_id: str) -> str:
    return run_id.replace(":", "_").replace("+", "_")
