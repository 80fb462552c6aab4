"""Typed settings of the ``monitor`` params section (built once per command, unknown keys rejected).

Every field mirrors a key of params.yaml's ``monitor:`` section (docs/monitoring.md, "Thresholds");
:func:`monitor_config` builds the tree with :func:`churnguard.core.config.build`, which names the
dotted key of any unknown, missing or mistyped setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from churnguard.core.config import build
from churnguard.world.timeline import TimelineConfig


@dataclass(frozen=True)
class DriftConfig:
    alpha: float  # Benjamini-Hochberg level over all features tested together
    min_psi: float  # and an effect worth acting on
    prediction_min_psi: float
    min_features_alarmed: int


@dataclass(frozen=True)
class EarlyOutcomesConfig:
    alpha: float
    min_ratio: float  # observed/expected at least this (or, direction both, at most its inverse)
    min_expected: float  # segments expecting fewer churners are not tested
    segments: tuple[str, ...]
    numeric_segments: tuple[str, ...]  # quartile bands
    # "more": alarm only on more churners than the model expects (docs/monitoring.md, "Early outcomes")
    direction: Literal["more", "both"] = "more"


@dataclass(frozen=True)
class TriggerConfig:
    dag_id: str  # what the monitor DAG triggers on a retrain decision
    alias: str  # the alias the retrained version gets (never the champion's)


@dataclass(frozen=True)
class MonitorConfig:
    drift: DriftConfig
    early_outcomes: EarlyOutcomesConfig
    max_auc_drop: float
    retrain_on: tuple[Literal["performance", "drift"], ...]
    trigger: TriggerConfig
    timeline: TimelineConfig
    # the headline pre-label ROC AUC estimate (gauge, alarm): CBPE, or CBPE corrected on the newest
    # matured cohort (docs/monitoring.md, "Which estimate"); falls back to CBPE before one matured
    estimator: Literal["cbpe", "offset", "recalibrated"] = "offset"


def monitor_config(section: Mapping[str, Any] | None) -> MonitorConfig:
    """params ``monitor`` as a :class:`MonitorConfig` (ConfigError naming ``monitor.<key>`` otherwise)."""
    return build(MonitorConfig, section, "monitor")
