"""Thread discipline: a stage's pools follow its CPU share (churnguard.core.threads, pipelines/__init__.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from churnguard.core.threads import POOL_VARS, apply_cpu_share, available_cores, cpu_share

REPO = Path(__file__).resolve().parents[2]


def test_share_sets_every_pool_and_passive_waiting():
    env: dict[str, str] = {"CHURNGUARD_CPU_SHARE": "1"}
    assert apply_cpu_share(env) == 1
    assert all(env[v] == "1" for v in POOL_VARS)
    assert env["OMP_WAIT_POLICY"] == "passive" and env["KMP_BLOCKTIME"] == "0"


def test_explicit_settings_win_and_none_leaves_libraries_alone():
    env = {"CHURNGUARD_CPU_SHARE": "1", "OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "active"}
    apply_cpu_share(env)
    assert env["OMP_NUM_THREADS"] == "3" and env["OMP_WAIT_POLICY"] == "active"
    untouched = {"CHURNGUARD_CPU_SHARE": "none"}
    assert apply_cpu_share(untouched) == 0 and untouched == {"CHURNGUARD_CPU_SHARE": "none"}


def test_default_is_the_cores_of_this_process_and_bad_values_are_named():
    assert cpu_share({}) == available_cores()
    assert cpu_share({"CHURNGUARD_CPU_SHARE": "999"}) == available_cores()  # never more than we may use
    for bad in ("two", "0", "-1"):
        with pytest.raises(ValueError, match="CHURNGUARD_CPU_SHARE"):
            cpu_share({"CHURNGUARD_CPU_SHARE": bad})


def test_a_stage_process_starts_with_pools_of_its_share():
    probe = (
        "import pipelines, json, numpy, threadpoolctl, torch;"
        "print(json.dumps([{'api': p['user_api'], 'n': p['num_threads']} for p in threadpoolctl.threadpool_info()]"
        " + [{'api': 'torch', 'n': torch.get_num_threads()}]))"
    )
    env = {"PATH": "/usr/bin:/bin", "CHURNGUARD_CPU_SHARE": "1"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    pools = json.loads(out.stdout.strip().splitlines()[-1])
    assert pools and all(p["n"] == 1 for p in pools), pools
