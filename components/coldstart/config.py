"""Typed settings of the cold-start sections ``cluster``, ``train_gnn`` and ``evaluate_coldstart``.

Every field mirrors a key of params.yaml; :func:`churnguard.core.config.build` names the dotted
key of any unknown, missing or mistyped setting. Built once per stage.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from churnguard.core.config import build
from churnguard.models.gbm import GBMParams

Architecture = Literal["gatv2", "sage"]


@dataclass(frozen=True)
class ClusterConfig:
    seed: int = 42
    k_range: tuple[int, int] = (3, 10)
    silhouette_sample: int = 3000  # rows scored for the silhouette (fixed random sample)
    fit_sample: int = 20000  # rows k-means is fitted on (assignment covers everyone)
    n_init: int = 3
    prior_strength: float = 20.0  # shrinkage of each cluster's churn rate towards the overall rate


@dataclass(frozen=True)
class GNNTraining:
    layers: int = 2
    hidden: int = 32
    dropout: float = 0.1
    epochs: int = 20
    lr: float = 0.005
    weight_decay: float = 0.0001
    mask_share: float = 0.5  # share of targets whose own behaviour is hidden (cold-start simulation)
    early_stopping_share: float = 0.1  # targets held out (masked) for early stopping
    patience: int = 3  # epochs without a better validation loss before stopping
    batch_size: int = 512  # targets per step (mini-batch of neighbour-sampled subgraphs)
    fanout: int = 15  # neighbours sampled per node and hop
    targets_per_epoch: int = 40000  # an epoch's cost does not grow with the customer count


@dataclass(frozen=True)
class ArchitectureParams:
    heads: int = 1


@dataclass(frozen=True)
class TrainGNNConfig:
    gbm: GBMParams
    # more settings of (b), each overriding some keys of `gbm`; the best validation-cohort ROC AUC is kept
    gbm_grid: tuple[dict[str, float], ...] = ()
    gbm_fit_rows: int = 200000  # (b) learns from at most this many established customers (stratified)
    seed: int = 42
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    threads: int = 1
    architectures: tuple[Architecture, ...] = ("gatv2", "sage")
    training: GNNTraining = field(default_factory=GNNTraining)
    gatv2: ArchitectureParams = field(default_factory=lambda: ArchitectureParams(heads=4))
    sage: ArchitectureParams = field(default_factory=ArchitectureParams)
    ensemble_C: float = 1.0  # regularisation of the stacking logistic regression

    def __post_init__(self) -> None:
        self.gbm_settings()  # a misspelt grid key stops the stage when the config is built

    def heads(self, arch: Architecture) -> int:
        return int(getattr(self, arch).heads)

    def gbm_settings(self) -> dict[str, GBMParams]:
        """(b)'s settings by name: ``gbm`` and ``gbm_grid[i]``."""
        base = dataclasses.asdict(self.gbm)
        grid = {f"gbm_grid[{i}]": o for i, o in enumerate(self.gbm_grid)}
        return {"gbm": self.gbm} | {k: build(GBMParams, base | o, f"train_gnn.{k}") for k, o in grid.items()}


@dataclass(frozen=True)
class EvaluateColdstartConfig:
    calibration_bins: int = 10
