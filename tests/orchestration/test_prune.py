"""Pruning of the training DAG's per-run workspaces (pure file logic, no Airflow)."""

from __future__ import annotations

import os
import time

from churnguard.mlops.orchestration import prune_workspaces

DAY = 86400.0


def _run(runs, name: str, age_days: float, now: float):
    d = runs / name
    (d / "data").mkdir(parents=True)
    (d / "run.json").write_text("{}")
    os.utime(d / "run.json", (now - age_days * DAY, now - age_days * DAY))
    return d


def test_prunes_only_old_run_workspaces_beyond_the_newest_and_never_the_current(tmp_path):
    now = time.time()
    runs = tmp_path / "runs"
    ages = {"r0": 0.1, "r1": 1, "r2": 20, "r3": 30, "r4": 40, "r5": 50}
    dirs = {k: _run(runs, k, a, now) for k, a in ages.items()}
    (runs / "not_a_run").mkdir()  # no run.json: never touched
    (runs / "notes.txt").write_text("keep me")
    current = dirs["r5"]  # the oldest, but it is the run being prepared

    deleted = prune_workspaces(runs, current, keep_last=3, keep_days=14, now=now)

    # kept: the 3 newest (r0, r1, r2), anything within 14 days, and the current run
    assert sorted(d.name for d in deleted) == ["r3", "r4"]
    assert sorted(p.name for p in runs.iterdir()) == ["not_a_run", "notes.txt", "r0", "r1", "r2", "r5"]


def test_keep_days_protects_recent_runs_even_beyond_keep_last(tmp_path):
    now = time.time()
    runs = tmp_path / "runs"
    for i in range(5):
        _run(runs, f"r{i}", 1 + i, now)
    assert prune_workspaces(runs, runs / "new", keep_last=1, keep_days=14, now=now) == []
    assert prune_workspaces(tmp_path / "absent", runs / "new", keep_last=1, keep_days=0, now=now) == []
