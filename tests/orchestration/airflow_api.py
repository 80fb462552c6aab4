"""Airflow standalone for the tests: started by scripts/airflow.sh on a free loopback port, its REST API v2,
and its process group (checked and stopped by group, never by name)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.orchestration.conftest import REPO, AirflowEnv, require_airflow

SCRIPT = REPO / "scripts" / "airflow.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, base: str):
        self.base, self.token = base, None

    def call(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> dict:
        req = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {self.token}"} if auth else {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path} -> {exc.code}: {exc.read()[:1000]!r}") from exc

    def login(self, user: str, password: str) -> None:
        self.token = self.call("POST", "/auth/token", {"username": user, "password": password}, auth=False)[
            "access_token"
        ]


def _group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _ppid, group = text[text.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(f"{stat.parent.name}:{text[text.index('(') + 1 : text.rindex(')')]}")
    return members


def _group_alive(pgid: int) -> bool:
    return bool(_group_members(pgid))


def start_standalone(tmp_path: Path):
    """Airflow standalone through scripts/airflow.sh (yields env, port, start banner, process group);
    always stopped by process group afterwards, with a short grace: a test needs no graceful drain."""
    require_airflow()
    env_obj = AirflowEnv(tmp_path)
    port = free_port()
    env = dict(env_obj.env, AIRFLOW_PORT=str(port), AIRFLOW_START_TIMEOUT="420", AIRFLOW_STOP_GRACE_S="5")
    pidfile = env_obj.home / "standalone.pid"
    t0 = time.perf_counter()
    proc = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=480)
    started = time.perf_counter() - t0
    pgid = int(pidfile.read_text()) if pidfile.exists() else None
    try:
        assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert f"http://127.0.0.1:{port}" in proc.stdout and "login: admin / " in proc.stdout, proc.stdout
        print(f"Airflow standalone up in {started:.0f} s on 127.0.0.1:{port}")
        yield env_obj, port, proc.stdout, pgid
    finally:
        stop = subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)
        left = _group_members(pgid) if pgid is not None else []
        if left:  # the script failed to stop it: do it here, by group, and fail
            os.killpg(pgid, signal.SIGKILL)
            pytest.fail(f"scripts/airflow.sh stop left {left} of process group {pgid}: {stop.stdout} {stop.stderr}")
        assert stop.returncode == 0, stop.stderr
