"""The uplift model's control arm: who the controls are and the gradient-boosting model of their churn.

``mu_0(x)``: gradient boosting on every untreated established customer (the campaign's ``none`` arm
plus those outside the campaign: assignment was random, so both are controls), optionally on a random
sample of at most ``control_model.max_rows`` of them, and ``control_bootstrap`` refits on resamples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from churnguard.core.vocabulary import CONTROL_ARMS
from churnguard.features.table import FeatureSchema
from churnguard.interventions.config import ControlModelConfig, UpliftConfig
from churnguard.models.gbm import GBMParams, gbm_pipeline
from churnguard.models.tabular import prepare

MIN_ARM_ROWS = 20


def schema_without_offer(schema: FeatureSchema) -> FeatureSchema:
    """The control model's inputs: every model feature but the campaign offer itself."""
    return FeatureSchema(list(schema.numeric), [c for c in schema.categorical if c != "campaign_offer"], [], {})


def _control_pipeline(sch: FeatureSchema, c: ControlModelConfig, seed: int, iterations: int | None = None) -> Pipeline:
    return gbm_pipeline(
        sch.categorical, sch.numeric, GBMParams(c.max_iter, c.learning_rate, c.max_leaf_nodes), seed, iterations
    )


@dataclass(frozen=True)
class CampaignRows:
    """The training split's campaign: each customer's arm and who was eligible (established)."""

    arm: np.ndarray
    eligible: np.ndarray

    @classmethod
    def of(cls, train: pd.DataFrame) -> CampaignRows:
        if "campaign_offer" not in train.columns:
            raise ValueError(
                "no randomized campaign in this data source (feature campaign_offer): "
                "the causal uplift model cannot be trained"
            )
        cold = train["is_cold_start"].astype(bool).to_numpy() if "is_cold_start" in train.columns else None
        eligible = ~cold if cold is not None else np.ones(len(train), bool)
        return cls(train["campaign_offer"].astype(str).to_numpy(), eligible)

    @property
    def controls(self) -> np.ndarray:
        return np.isin(self.arm, CONTROL_ARMS) & self.eligible

    def offer_rows(self, offers: list[str]) -> dict[str, np.ndarray]:
        rows = {}
        for offer in offers:
            rows[offer] = (self.arm == offer) & self.eligible
            if rows[offer].sum() < MIN_ARM_ROWS:
                raise ValueError(
                    f"offer {offer!r}: only {int(rows[offer].sum())} campaign customers in the training split"
                )
        return rows


def control_sample(mask: np.ndarray, max_rows: int | None, seed: int) -> np.ndarray:
    """The controls the control model is fitted on: all, or a random ``max_rows`` of them (fixed cost)."""
    if max_rows is None or mask.sum() <= max_rows:
        return mask
    keep = np.zeros(len(mask), dtype=bool)
    keep[np.random.default_rng(seed + 7919).choice(np.nonzero(mask)[0], int(max_rows), replace=False)] = True
    return keep


def fit_controls(
    train: pd.DataFrame,
    y: np.ndarray,
    mask: np.ndarray,
    sch: FeatureSchema,
    cfg: UpliftConfig,
    seed: int,
    rng: np.random.Generator,
) -> tuple[Pipeline, list]:
    """The point control model and ``control_bootstrap`` refits on resamples of its rows; the refits are
    classifiers on the point model's encoding (features encoded once at predict time)."""
    Xc, yc = prepare(train[mask], sch), y[mask]
    control = _control_pipeline(sch, cfg.control_model, seed).fit(Xc, yc)
    if not cfg.control_bootstrap:
        return control, []
    Xt = control.named_steps["pre"].transform(Xc)
    iterations = control.named_steps["clf"].n_iter_
    boots = []
    for m in range(cfg.control_bootstrap):
        idx = rng.integers(0, len(yc), len(yc))
        clf = _control_pipeline(sch, cfg.control_model, seed + 1 + m, iterations).named_steps["clf"]
        boots.append(clf.fit(Xt[idx], yc[idx]))
    return control, boots
