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
TRUTH_AUDIT_DIR = "truth_audit"
# Runs a stage module as `python -m` does, recording each open() of a path under data/truth.
TRUTH_AUDIT = """
import os, runpy, sys
stage, record = sys.argv[1], sys.argv[2]
opened = []
def hook(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if os.sep + "data" + os.sep + "truth" in path:
            opened.append(path)
sys.addaudithook(hook)
sys.argv = [stage]
try:
    runpy.run_module(stage, run_name="__main__", alter_sys=True)
finally:
    with open(record, "w") as fh:
        fh.write("\\n".join(opened))
"""


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

    def truth_opened(self, stage: str) -> list[str] | None:
        """Files under data/truth the stage's last run opened (None: the stage has not run here)."""
        record = self.root / TRUTH_AUDIT_DIR / f"{stage}.txt"
        return [p for p in record.read_text().split("\n") if p] if record.exists() else None

    def run_stage(self, name: str, check: bool = True) -> subprocess.CompletedProcess:
        """``python -m pipelines.<name>`` as DVC runs it, under an audit hook that records every file of
        ``data/truth`` the stage opens (tests/foundation/test_pipeline.py checks only evaluation stages do)."""
        (self.root / TRUTH_AUDIT_DIR).mkdir(exist_ok=True)
        proc = subprocess.run(
            [sys.executable, "-c", TRUTH_AUDIT, f"pipelines.{name}", str(self.root / TRUTH_AUDIT_DIR / f"{name}.txt")],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
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
