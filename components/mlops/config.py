"""The params ``register`` section as a frozen dataclass (read by the register stage and `churnguard promote`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from churnguard.core.config import build


@dataclass(frozen=True)
class RegisterConfig:
    model_name: str = "churnguard"
    alias: str = "champion"
    # quality gates: each ``min_<metric>`` / ``max_<metric>`` bounds that holdout metric of the version
    gates: dict[str, float] = field(default_factory=dict)
    champion_tolerance: float = 0.0  # a new version's AUC must be >= the champion's - this
    challenger: str | None = None  # set by the monitor DAG's retrain: this alias, never champion

    def __post_init__(self) -> None:
        odd = [k for k in self.gates if not k.startswith(("min_", "max_"))]
        if odd:
            raise ValueError(f"register.gates: {odd} (each gate is min_<metric> or max_<metric>)")


def register_config(section: Mapping[str, Any], where: str = "register") -> RegisterConfig:
    return build(RegisterConfig, section, where)
