"""Where the ops tests find their validators, and the repository paths they check.

The binaries come from the project's own install steps (CI starts on a bare machine):
promtool and docker-compose from Debian (scripts/install-system-packages.sh), checkov from the
separate ops environment (`make ops-venv`: .venv-ops, requirements/ops.lock.txt, because its
pins conflict with the project lock). A missing one fails the test with the command to run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DEPLOY = REPO / "deploy"


def require_binary(name: str, install_hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: {install_hint}")
    return path


def ops_venv_binary(name: str) -> str:
    path = REPO / ".venv-ops" / "bin" / name
    if not path.exists():
        pytest.fail(f"{path.relative_to(REPO)} missing: run `make ops-venv`")
    return str(path)


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def load_all_yaml(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
