"""Causal uplift model trained on the randomized campaign (observable data only, never the truth).

A T-learner: one outcome model per arm.
- Control arm ``mu_0(x)``: gradient boosting on every untreated established customer (the campaign's
  ``none`` arm plus those outside the campaign: assignment was random, so both are controls).
- Each offer arm ``mu_k(x)``: a ridge-penalised GLM on that arm's customers with offset
  ``log mu_0(x)`` (``link: log``, default: the offer multiplies the churn probability by
  ``exp(g_k(x))``, a relative risk that depends on the customer) or ``logit mu_0(x)``
  (``link: logit``). It borrows the baseline from the much larger control arm and keeps the
  variance low with ~2k treated customers per arm. The effect design is
  :mod:`churnguard.interventions.uplift_design`; the GLM fitting :mod:`churnguard.interventions.uplift_glm`.
- ``learner: pooled``: the offer GLMs as one model (shared effect modifiers + per-arm deviations),
  the (shared, deviation) ridge pair by CV deviance over all treated customers; a huge shared ridge
  (the default grid) keeps the arms separate and only chooses their common ridge jointly.
- Uncertainty: ``bootstrap`` resamples of each arm's rows refit ``mu_k``; with ``control_bootstrap: M``
  the control model is refitted on M resamples of the controls too and replicate ``b`` uses control
  ``b mod M`` (fit and predict), so the interval carries the whole pipeline's sampling noise. The
  interval is the replicates' percentile interval or point +- z x their sd (``interval``, ``ci_level``).
  It is an interval for the conditional average effect given the features, not for one customer's
  own effect (which also depends on unobserved risk).
Uplift (churn-probability reduction) = ``mu_0(x) - mu_k(x)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import ID
from churnguard.features.table import FeatureSchema
from churnguard.interventions.config import UpliftConfig
from churnguard.interventions.crossfit import CrossFit, fold_of
from churnguard.interventions.uplift_control import (
    CampaignRows,
    _control_pipeline,
    control_sample,
    fit_controls,
    schema_without_offer,
)
from churnguard.interventions.uplift_design import Design
from churnguard.interventions.uplift_glm import EPS, fit_offset_glm, pooled_coefs, pooled_design, pooled_penalty
from churnguard.interventions.uplift_learners import LEARNERS, LearnerInputs, fit_arm
from churnguard.interventions.uplift_model import UpliftModel

# Design and the GLM helpers: bundles pickled before the split, and callers, name them here
__all__ = [
    "EPS",
    "Design",
    "UpliftModel",
    "_control_pipeline",
    "fit_arm",
    "fit_offset_glm",
    "fit_uplift",
    "pooled_coefs",
    "pooled_design",
    "pooled_penalty",
]


def effect_design(frame: pd.DataFrame, sch: FeatureSchema, cfg: UpliftConfig) -> Design:
    numeric = list(cfg.effect_numeric or sch.numeric)
    return Design.fit(
        frame,
        numeric,
        list(cfg.effect_categorical or sch.categorical),
        log_numeric=[c for c in cfg.effect_log_numeric if c in numeric],
        interactions=[(c, x) for c, x in cfg.effect_interactions],
        hinge_knots=dict(cfg.effect_hinges),
    )


def fit_crossfit(
    model: UpliftModel,
    frame: pd.DataFrame,
    y: np.ndarray,
    ctrl_mask: np.ndarray,
    rows_by_offer: dict[str, np.ndarray],
    cfg: UpliftConfig,
    seed: int,
) -> CrossFit:
    """Refit the control model and every offer GLM without each fold, each fold's early stopping and
    ridge chosen on its own rows: a customer's out-of-fold estimates never depend on its outcome."""
    fold = fold_of(frame[ID], cfg.crossfit_folds)
    Xt = model._encoded(frame)
    sch = model._schema_wo_offer()
    controls: list[Any] = []
    coef: dict[str, list[np.ndarray]] = {o: [] for o in rows_by_offer}
    for f in range(cfg.crossfit_folds):
        keep = ctrl_mask & (fold != f)
        clf = _control_pipeline(sch, cfg.control_model, seed).named_steps["clf"]
        controls.append(clf.fit(Xt[keep], y[keep]))
        for offer, m in rows_by_offer.items():
            rows = m & (fold != f)
            off = model._offset(controls[f].predict_proba(Xt[rows])[:, 1])
            coef[offer].append(fit_arm(model, offer, frame[rows], y[rows].astype(float), off, cfg, seed).coef)
    return CrossFit(cfg.crossfit_folds, controls, {o: np.asarray(c) for o, c in coef.items()})


def fit_uplift(
    train: pd.DataFrame,
    y: np.ndarray,
    schema: FeatureSchema,
    offers: list[str],
    cfg: UpliftConfig,
    seed: int,
    ceilings: dict[str, tuple[str, list[str]]] | None = None,
) -> UpliftModel:
    """Fit the uplift model on the training split's campaign (``campaign_offer`` column).

    ``learner: t_learner``: one offset GLM per offer arm, ridge per arm by CV. ``learner: pooled``:
    one offset GLM over all offer arms with shared effect modifiers plus per-arm deviations, the
    (shared, deviation) ridge pair chosen by CV deviance (a huge shared ridge = the T-learner).
    ``control_bootstrap: M`` refits the control model on M bootstrap resamples of the controls, so
    the interval carries the control model's uncertainty too (an honest bootstrap of the pipeline).
    ``ceilings`` (with ``cfg.no_effect_at_top``): upgrade offers act only below the top of their column.
    """
    campaign = CampaignRows.of(train)
    sch = schema_without_offer(schema)
    rng = np.random.default_rng(seed)
    ctrl_mask = control_sample(campaign.controls, cfg.control_model.max_rows, seed)
    control, boot_controls = fit_controls(train, y, ctrl_mask, sch, cfg, seed, rng)
    model = UpliftModel(
        schema,
        list(offers),
        control,
        effect_design(train[campaign.eligible], sch, cfg),
        {},
        {},
        float(cfg.ci_level),
        link=cfg.link,
        boot_controls=boot_controls,
        interval=cfg.interval,
        point=cfg.point,
        ceilings=dict(ceilings or {}) if cfg.no_effect_at_top else {},
    )
    rows_by_offer = {o: m & model.applicable(o, train) for o, m in campaign.offer_rows(list(offers)).items()}
    fitted = LEARNERS[cfg.learner](model, LearnerInputs(train, y, rows_by_offer, cfg, seed, rng))
    if cfg.crossfit_folds:
        model.crossfit = fit_crossfit(model, train, y, ctrl_mask, rows_by_offer, cfg, seed)
    model.info = {
        "learner": cfg.learner,
        "control_rows": int(ctrl_mask.sum()),
        "arm_rows": {o: int(m.sum()) for o, m in rows_by_offer.items()},
        "control_bootstrap": len(boot_controls),
        "interval": model.interval,
        "point": model.point,
        **fitted,
    }
    return model
