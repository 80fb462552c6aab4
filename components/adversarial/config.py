"""Typed settings of the ``harden`` params section (built once per stage, unknown keys rejected).

Every field mirrors a key of params.yaml's ``harden:`` section; ``load_harden_config`` builds
the whole tree with :func:`churnguard.core.config.build`, which names the dotted key of any
unknown, missing or mistyped setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from churnguard.core.config import build, load_section


@dataclass(frozen=True)
class MutableLimit:
    """What one manipulation may change of one feature (raw units at budget 1.0)."""

    up: float = 0.0
    down: float = 0.0
    rel_up: float = 0.0
    rel_down: float = 0.0
    integer: bool = False


@dataclass(frozen=True)
class SurrogateConfig:
    hidden: tuple[int, ...] = (64, 32)
    epochs: int = 6


@dataclass(frozen=True)
class GanConfig:
    steps: int = 300
    hidden: int = 64
    noise_dim: int = 8
    realism_weight: float = 0.1
    lr: float = 0.002
    updates_per_batch: int = 1


@dataclass(frozen=True)
class RobustConfig:
    hidden: tuple[int, ...] = (64, 32)
    epochs: int = 12
    batch_size: int = 512
    lr: float = 0.003
    architecture: Literal["monotone", "mlp"] = "monotone"
    worst_case_weight: float = 0.1
    penalty: Literal["consistency", "gain"] = "consistency"
    adversarial_weight: float = 0.2
    reconstruction_weight: float = 0.1
    cap: float = 2.5
    trust: float = 2.0


@dataclass(frozen=True)
class ForestConfig:
    n_estimators: int = 100
    max_samples: int = 256


@dataclass(frozen=True)
class KnnConfig:
    k: int = 10
    reference: int = 4000
    chunk_rows: int = 8192  # rows per block of the rows x reference distance matrix (bounded memory)


@dataclass(frozen=True)
class DetectConfig:
    fp_budget: float = 0.01
    attack_fp_budget: float = 0.002
    expected_contamination: float = 0.02
    raised_deviation: float = 3.0
    combine: Literal["learned", "fisher"] = "learned"
    min_weight: float = 0.5
    isolation_forest: ForestConfig = field(default_factory=ForestConfig)
    knn: KnnConfig = field(default_factory=KnnConfig)


@dataclass(frozen=True)
class DecisionConfig:
    """The protected decision: which score ranks customers for an offer, and the veto."""

    score: Literal["gate", "base", "hardened"] = "gate"  # gate: min of both models' margins
    # share of the threat model's box a customer is assumed to have been manipulated by: the hardened
    # model scores the lowest-risk customer who could have been moved to the observed one (0: as observed)
    reverse_budget: float = 1.0


@dataclass(frozen=True)
class PgdConfig:
    steps: int = 40
    step_frac: float = 0.1
    restarts: int = 2


@dataclass(frozen=True)
class AdaptiveConfig:
    """Attacks on the protected decision (components/adversarial/adaptive.py)."""

    customers: int = 1000  # attacked customers (white-box and minimal-perturbation attacks)
    steps: int = 60
    step_frac: float = 0.05
    lambdas: tuple[float, ...] = (0.3, 3.0)  # starting Lagrange multipliers of the detector penalty
    budgets: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)  # minimal-perturbation search (share of the box)
    blackbox_customers: int = 100  # HopSkipJump is query-hungry: fewer customers
    blackbox_iterations: int = 10
    blackbox_max_evals: int = 200


@dataclass(frozen=True)
class EvaluateConfig:
    customers: int = 2000
    pgd: PgdConfig = field(default_factory=PgdConfig)
    gan_steps: int = 300
    adaptive: AdaptiveConfig = field(default_factory=AdaptiveConfig)


@dataclass(frozen=True)
class HardenConfig:
    seed: int
    torch_threads: int
    offer_share: float
    budget: float
    mutable: dict[str, MutableLimit | None]
    mutable_categorical: tuple[str, ...] = ()
    patterns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fit_rows: int = 60000  # training customers the part is fitted on (a stratified sample beyond this)
    surrogate: SurrogateConfig = field(default_factory=SurrogateConfig)
    gan: GanConfig = field(default_factory=GanConfig)
    robust: RobustConfig = field(default_factory=RobustConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)

    def limit(self, feature: str) -> MutableLimit:
        return self.mutable.get(feature) or MutableLimit()


def harden_config(mapping: Mapping[str, Any]) -> HardenConfig:
    """The typed ``harden`` section from a params mapping (tests, benchmarks)."""
    return build(HardenConfig, mapping, "harden")


def load_harden_config(path: Path | None = None) -> HardenConfig:
    """The typed ``harden`` section of params.yaml (stages)."""
    return load_section("harden", HardenConfig, path)
