"""Typed settings of the interventions stages: params ``fit_counterfactual:`` and ``sweep:``.

Frozen dataclasses built once per stage with :func:`churnguard.core.config.build`, which rejects an
unknown key and names the dotted key of a wrong one (``fit_counterfactual.uplift.ridge_grid[2]``).
The comments in params.yaml say what each setting means; here only the types and the checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from churnguard.core.config import ConfigError, build


@dataclass(frozen=True)
class ControlModelConfig:
    max_iter: int
    learning_rate: float
    max_leaf_nodes: int
    # Fit on a random sample of at most this many controls (None: all): the control model's cost stops
    # growing with the customer count once the sample is large enough (issue #21).
    max_rows: int | None = None


@dataclass(frozen=True)
class UpliftConfig:
    learner: Literal["t_learner", "pooled"]
    link: Literal["log", "logit"]
    ridge: float
    ridge_grid: tuple[float, ...]
    shared_ridge_grid: tuple[float, ...]
    ridge_cv_folds: int
    bootstrap: int
    control_bootstrap: int
    interval: Literal["normal", "percentile"]
    point: Literal["fit", "bagged"]
    ci_level: float
    effect_numeric: tuple[str, ...]
    effect_log_numeric: tuple[str, ...]
    effect_categorical: tuple[str, ...]
    control_model: ControlModelConfig
    effect_interactions: tuple[tuple[str, str], ...] = ()
    effect_hinges: dict[str, int] = field(default_factory=dict)
    # An upgrade offer (a scenario whose what-if upgrades plan or contract) has no effect where the
    # customer is already at the top: no uplift there, and those customers stay out of its arm's fit.
    no_effect_at_top: bool = False
    # t_learner: the categorical one-hot columns' own ridge grid, chosen jointly with ridge_grid by CV
    # (empty: one ridge for every column). A common ridge pulls a rare level's effect towards the
    # level that holds most churners (one-year contracts towards month-to-month).
    categorical_ridge_grid: tuple[float, ...] = ()
    # Cross-fitting (components/interventions/crossfit.py): 0 = off (the model learns from the training
    # split, the plan is checked on the holdout); K = the model learns from the whole campaign and every
    # customer also gets out-of-fold estimates from K fold refits (t_learner only).
    crossfit_folds: int = 0
    # t_learner: the effect modifiers of each offer (a subset of the design's attributes; an offer not
    # listed uses them all). Who responds to which offer is business knowledge (docs/synthetic_world.md,
    # "who responds"); fewer, relevant modifiers let the CV-chosen ridge keep their effect.
    offer_modifiers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_levels()
        if self.crossfit_folds and (self.crossfit_folds < 2 or self.learner != "t_learner"):
            raise ConfigError("fit_counterfactual.uplift.crossfit_folds: 0, or >= 2 with learner t_learner")

    def _check_levels(self) -> None:
        if not 0 < self.ci_level < 1:
            raise ConfigError(f"fit_counterfactual.uplift.ci_level: must be in (0, 1), got {self.ci_level}")
        if self.ridge_cv_folds < 2:
            raise ConfigError("fit_counterfactual.uplift.ridge_cv_folds: needs at least 2 folds")


@dataclass(frozen=True)
class CostConfig:
    fixed: float = 0.0
    share_of_monthly: float = 0.0
    months: float = 0.0


@dataclass(frozen=True)
class WhatIfConfig:
    monthly_charges_factor: float | None = None
    plan: Literal["upgrade"] | None = None
    contract: Literal["upgrade"] | None = None


@dataclass(frozen=True)
class ScenarioConfig:
    cost: CostConfig = CostConfig()
    what_if: WhatIfConfig = WhatIfConfig()
    offer: str | None = None  # the campaign arm it corresponds to; default: the scenario's name


@dataclass(frozen=True)
class ActionConfig:
    max_relative_decrease: float | None = None
    order: tuple[str, ...] | None = None
    values: tuple[str, ...] | None = None


@dataclass(frozen=True)
class AlibiConfig:
    latent_dim: int
    hidden_dim: int
    autoencoder_steps: int
    autoencoder_batch_size: int
    train_steps: int
    batch_size: int
    coeff_sparsity: float
    coeff_consistency: float


@dataclass(frozen=True)
class DiceConfig:
    method: str
    data_rows: int


@dataclass(frozen=True)
class FitCounterfactualConfig:
    seed: int
    torch_threads: int
    backend: str
    target_threshold: float
    repair: bool
    train_rows: int
    explain_sample: int
    actionable: dict[str, ActionConfig]
    immutable: tuple[str, ...]
    alibi_cfrl: AlibiConfig
    dice: DiceConfig
    customer_value_months: float
    scenarios: dict[str, ScenarioConfig]
    uplift: UpliftConfig

    def __post_init__(self) -> None:
        if not self.scenarios:
            raise ConfigError("fit_counterfactual.scenarios: declares no scenario")
        both = sorted(set(self.immutable) & set(self.actionable))
        if both:
            raise ConfigError(f"fit_counterfactual.immutable: {both} are actionable too")

    def backend_section(self, name: str) -> Any:
        return {"alibi_cfrl": self.alibi_cfrl, "dice": self.dice}[name]


@dataclass(frozen=True)
class ShipConfig:
    rule: Literal["not_worse", "better"] = "not_worse"
    confidence: float = 0.9
    baselines: tuple[str, ...] = ("risk_based", "no_offer")
    level: float = 0.9  # interval level of the reported estimates
    replicates: int = 1000

    @classmethod
    def from_params(cls, section: Any) -> ShipConfig:
        return build(cls, section, "sweep.ship")

    def __post_init__(self) -> None:
        if not 0.5 <= self.confidence < 1:
            raise ConfigError(f"sweep.ship.confidence: must be in [0.5, 1), got {self.confidence}")


@dataclass(frozen=True)
class SweepConfig:
    seed: int
    shards: int
    chunk_rows: int
    budget_per_customer: float
    budget_total: float | None
    require_confident_uplift: bool
    pessimism: float
    ship: ShipConfig
    report_date: str
    report_top: int
    currency: str

    def budget(self, customers: int) -> float:
        """The total budget for this many customers (``budget_total`` when set)."""
        return float(self.budget_total) if self.budget_total is not None else self.budget_per_customer * customers


def fit_counterfactual_config(section: Any) -> FitCounterfactualConfig:
    return build(FitCounterfactualConfig, section, "fit_counterfactual")


def sweep_config(section: Any) -> SweepConfig:
    return build(SweepConfig, section, "sweep")
