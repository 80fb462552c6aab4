"""The model bundle: one consistent set of parts registered as one MLflow model version.

Layout of a bundle directory (``models/`` in the workspace, the ``bundle`` artifact in MLflow)::

    models/
      base/part.json          {"name": "base", "order": 0, "loader": "churnguard.models.tabular:load_part"}
      coldstart/part.json     added by the cold-start stages (order 10)
      protection/part.json    added by the harden stage (order 20)
      interventions/part.json added by the counterfactual stage (order 30)

Each part directory holds a ``part.json`` naming a loader ``module:function`` that takes
the part directory and returns the part object. Stages add parts by writing a directory;
nothing here changes when a part is added.

Scoring runs the parts in ``order``: every part object may implement
``score_columns(features: Columns, n, scores: Columns) -> Columns`` (:mod:`churnguard.core.columns`,
pandas-free: serving scores one customer at a time) or the DataFrame form
``score(features, scores) -> DataFrame``; it receives the scores so far (at least
``churn_probability``) and returns them with its own columns added or ``churn_probability``
replaced (an ensemble). Parts that do not score (e.g. interventions)
are reachable through :meth:`ModelBundle.part` by serving.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from churnguard.core import columns

PART_FILE = "part.json"


class ScoringPart(Protocol):
    def score(self, features: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame: ...


@dataclass(frozen=True)
class PartSpec:
    name: str
    order: int
    loader: str
    path: Path
    meta: dict[str, Any]


def write_part_spec(part_dir: Path, name: str, order: int, loader: str, **meta: Any) -> None:
    """Declare a directory as a bundle part (called by the stage that trains it)."""
    part_dir.mkdir(parents=True, exist_ok=True)
    (part_dir / PART_FILE).write_text(json.dumps({"name": name, "order": order, "loader": loader, **meta}, indent=2))


def discover_parts(bundle_dir: Path) -> list[PartSpec]:
    """All parts in a bundle directory, in scoring order."""
    specs = []
    for spec_file in sorted(Path(bundle_dir).glob(f"*/{PART_FILE}")):
        raw = json.loads(spec_file.read_text())
        specs.append(PartSpec(raw.pop("name"), int(raw.pop("order")), raw.pop("loader"), spec_file.parent, raw))
    return sorted(specs, key=lambda s: (s.order, s.name))


def _load(spec: PartSpec) -> Any:
    module, func = spec.loader.split(":")
    return getattr(importlib.import_module(module), func)(spec.path)


class ModelBundle:
    """Loaded parts of one model version; ``predict`` runs every scoring part in order."""

    def __init__(self, bundle_dir: Path):
        self.path = Path(bundle_dir)
        self.specs = discover_parts(self.path)
        if not any(s.name == "base" for s in self.specs):
            raise FileNotFoundError(f"{self.path} holds no 'base' part: not a churnguard bundle")
        self.parts: dict[str, Any] = {s.name: _load(s) for s in self.specs}

    @property
    def part_names(self) -> list[str]:
        return [s.name for s in self.specs]

    def part(self, name: str) -> Any | None:
        """A loaded part, or None when this version does not have it."""
        return self.parts.get(name)

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Score customers: ``churn_probability`` plus each part's own columns."""
        return pd.DataFrame(self.predict_columns(columns.from_frame(features), len(features)), index=features.index)

    def predict_columns(self, cols: columns.Columns, n: int, only_probability: bool = False) -> columns.Columns:
        """:meth:`predict` on :mod:`churnguard.core.columns` (what serving and streaming call).

        ``only_probability``: run only the parts that can change ``churn_probability`` (a part
        declares ``sets_churn_probability = False`` when it only adds columns), for callers that
        need the score alone (the streaming job); ``churn_probability`` is the same either way.
        """
        scores: columns.Columns = {}
        for spec in self.specs:
            part = self.parts[spec.name]
            if only_probability and not getattr(part, "sets_churn_probability", True):
                continue
            if hasattr(part, "score_columns"):
                scores = part.score_columns(cols, n, scores)
            elif hasattr(part, "score"):  # a DataFrame-only part
                frame = part.score(columns.to_frame(cols), pd.DataFrame(scores, index=pd.RangeIndex(n)))
                scores = columns.from_frame(frame)
        return scores


def score_frame(part: Any, features: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """The DataFrame form of a part's ``score_columns`` (``score(features, scores)``)."""
    out = part.score_columns(columns.from_frame(features), len(features), columns.from_frame(scores))
    return pd.DataFrame(out, index=features.index)
