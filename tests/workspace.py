"""A throw-away churnguard workspace for tests: tiny params, its own data, models and MLflow store.

Stages run exactly as DVC runs them (`python -m pipelines.<stage>`, in dvc.yaml order) with
``CHURNGUARD_HOME`` pointing at the workspace, so tests exercise the real entry points.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from churnguard.core.config import deep_merge

REPO = Path(__file__).resolve().parents[1]


def stage_names() -> list[str]:
    """Stages in dvc.yaml order (the file lists them in dependency order)."""
    return list(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])


@dataclass
class Workspace:
    root: Path
    params: dict[str, Any]
    log: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path, overrides: dict[str, Any] | None = None) -> Workspace:
        params = deep_merge(
            yaml.safe_load((REPO / "params.yaml").read_text()),
            yaml.safe_load((REPO / "tests" / "tiny_params.yaml").read_text()),
        )
        params = deep_merge(params, overrides or {})
        root.mkdir(parents=True, exist_ok=True)
        (root / "data" / "external").mkdir(parents=True, exist_ok=True)
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        shutil.copy2(REPO / "services.yaml", root / "services.yaml")  # serving / streaming settings
        return cls(root, params)

    @property
    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            CHURNGUARD_HOME=str(self.root),
            MLFLOW_TRACKING_URI=f"sqlite:///{self.root / 'mlflow.db'}",
            CHURNGUARD_ARTIFACT_ROOT=(self.root / "mlartifacts").as_uri(),
            PYTHONPATH=str(REPO),
        )

    def run_stage(self, name: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", f"pipelines.{name}"], cwd=self.root, env=self.env, capture_output=True, text=True
        )
        self.log.append(f"$ {name} (exit {proc.returncode})\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        if check and proc.returncode != 0:
            raise AssertionError(
                f"stage {name} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
            )
        return proc

    def run_until(self, last: str | None = None) -> None:
        """Run stages in order up to and including ``last`` (default: all)."""
        for name in stage_names():
            self.run_stage(name)
            if name == last:
                break
