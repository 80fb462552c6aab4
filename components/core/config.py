"""Project paths and params.yaml access.

Every path is relative to the repository root (or to ``CHURNGUARD_HOME`` when set), so the
project never depends on where it is checked out.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(os.environ.get("CHURNGUARD_HOME", Path(__file__).resolve().parents[2]))


@dataclass(frozen=True)
class Paths:
    """Where each stage reads and writes; one place so stages and tests agree."""

    root: Path = ROOT

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def truth(self) -> Path:
        # Ground truth of the synthetic world. Only evaluation code may read it.
        return self.root / "data" / "truth"

    @property
    def validated(self) -> Path:
        return self.root / "data" / "validated"

    @property
    def features(self) -> Path:
        return self.root / "data" / "features"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def reports(self) -> Path:
        return self.root / "reports"


PATHS = Paths()


def load_params(path: Path | None = None) -> dict[str, Any]:
    """Read the whole params.yaml (default: the repository's)."""
    with open(path or ROOT / "params.yaml") as fh:
        return yaml.safe_load(fh)


def section(name: str, path: Path | None = None) -> dict[str, Any]:
    """Read one section of params.yaml: a stage reads only its own."""
    params = load_params(path)
    if name not in params:
        raise KeyError(f"params.yaml has no section {name!r}")
    return params[name]


def resolve(path: str | Path) -> Path:
    """Resolve a params path relative to the repository root."""
    p = Path(path)
    return p if p.is_absolute() else ROOT / p
