"""Typed settings of the base-model sections ``train_base`` and ``evaluate`` (built once per stage).

Every field mirrors a key of params.yaml; :func:`churnguard.core.config.build` names the dotted
key of any unknown, missing or mistyped setting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from churnguard.core.config import ConfigError, build
from churnguard.models.gbm import GBMParams

Family = Literal["logistic_regression", "hist_gradient_boosting"]
C = TypeVar("C")


def typed(cls: type[C], cfg: object, section: str) -> C:
    """``cfg`` as ``cls``: a params mapping is checked and built (errors name ``section.key``), a typed
    config passes as it is (stages build once; tests and benchmarks may pass mappings)."""
    if isinstance(cfg, cls):
        return cfg
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{section}: expected a mapping of settings, got {type(cfg).__name__}")
    return build(cls, cfg, section)


@dataclass(frozen=True)
class LogisticParams:
    C: float = 1.0


@dataclass(frozen=True)
class SampleConfig:
    """Training cost that stops growing with the customer count (issue #21).

    Model selection cross-validates on at most ``cv_rows`` training customers. A learning curve
    then fits the selected model on stratified samples of ``start_rows``, 2x, 4x ... (at most
    ``max_rows``), each scored on the same ``validation_rows`` held-out training customers, and
    stops where doubling gains less than ``flat_auc`` ROC AUC. With no more than
    ``2 * start_rows`` training customers there is no curve: the model is fitted on all of them."""

    cv_rows: int = 60000
    start_rows: int = 40000
    max_rows: int = 320000
    validation_rows: int = 20000
    flat_auc: float = 0.001


@dataclass(frozen=True)
class TrainBaseConfig:
    cv_folds: int
    candidates: tuple[Family, ...]
    hist_gradient_boosting: GBMParams
    # more gradient-boosting settings cross-validated beside it, each overriding some of its keys
    hist_gradient_boosting_grid: tuple[dict[str, float], ...] = ()
    logistic_regression: LogisticParams = field(default_factory=LogisticParams)
    sample: SampleConfig = field(default_factory=SampleConfig)

    def __post_init__(self) -> None:
        self.settings()  # a misspelt grid key stops the stage when the config is built

    def settings(self) -> dict[str, tuple[Family, GBMParams | LogisticParams]]:
        """Every cross-validated setting by name: each candidate family, and each grid point of the
        gradient boosting (``hist_gradient_boosting_grid[i]``)."""
        out: dict[str, tuple[Family, GBMParams | LogisticParams]] = {}
        for family in self.candidates:
            out[family] = (family, getattr(self, family))
            if family == "hist_gradient_boosting":
                base = dataclasses.asdict(self.hist_gradient_boosting)
                for i, override in enumerate(self.hist_gradient_boosting_grid):
                    where = f"train_base.hist_gradient_boosting_grid[{i}]"
                    out[f"{family}_grid[{i}]"] = (family, build(GBMParams, base | override, where))
        return out


@dataclass(frozen=True)
class EvaluateConfig:
    calibration_bins: int = 10
