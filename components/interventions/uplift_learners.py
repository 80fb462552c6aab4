"""The offer arms' learners: one offset GLM per arm (``t_learner``) or all arms as one (``pooled``),
each with its bootstrap replicates for the interval. They fill an :class:`UpliftModel`'s coefficients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churnguard.interventions.config import UpliftConfig
from churnguard.interventions.uplift_glm import (
    Ridge,
    choose_pooled_ridge,
    choose_ridge,
    fit_offset_glm,
    pooled_coefs,
    pooled_design,
    pooled_penalty,
    ridge_penalty,
)

if TYPE_CHECKING:
    from churnguard.interventions.uplift_model import UpliftModel


@dataclass(frozen=True)
class LearnerInputs:
    """What a learner fits the offer arms on: the training customers and their outcomes, each arm's
    rows (a mask over ``train``), the settings, and the seed and random stream of the bootstrap."""

    train: pd.DataFrame
    y: np.ndarray
    rows_by_offer: dict[str, np.ndarray]
    cfg: UpliftConfig
    seed: int
    rng: np.random.Generator


def _replicate_offsets(model: UpliftModel, rows: pd.DataFrame, replicates: int) -> Iterator[np.ndarray]:
    """Bootstrap replicate ``b``'s control offsets on ``rows``: control model ``b mod M`` (the point model
    when M = 0), each control model's offsets computed once."""
    controls = model.boot_controls or [model.control]
    offsets: dict[int, np.ndarray] = {}
    for b in range(replicates):
        k = b % len(controls)
        if k not in offsets:
            offsets[k] = model._offset(model.control_probability(rows, controls[k]))
        yield offsets[k]


@dataclass(frozen=True)
class ArmFit:
    """One offer arm's GLM: its design columns, penalty, coefficients (full layout) and CV score."""

    cols: np.ndarray
    penalty: float | np.ndarray
    ridge: Any
    coef: np.ndarray
    cv_deviance: float | None


def _listed(modifiers: tuple[str, ...] | None) -> list[str] | None:
    return None if modifiers is None else list(modifiers)


def fit_arm(
    model: UpliftModel, offer: str, rows: pd.DataFrame, yk: np.ndarray, off: np.ndarray, cfg: UpliftConfig, seed: int
) -> ArmFit:
    """The offer's offset GLM on its arm's rows, ridge (and categorical ridge) by CV deviance."""
    cols = model.design.columns_for(_listed(cfg.offer_modifiers.get(offer)))
    X = model.design.transform(rows)[:, cols]
    categorical = np.nonzero(np.isin(cols, model.design.categorical_columns()))[0]
    ridge: Ridge = float(cfg.ridge)
    score = None
    if cfg.ridge_grid:
        cv = (cfg.ridge_cv_folds, seed, categorical, list(cfg.categorical_ridge_grid))
        ridge, scores = choose_ridge(X, yk, off, list(cfg.ridge_grid), model.link, *cv)
        score = scores[ridge]
    penalty = ridge_penalty(X.shape[1], ridge, categorical)
    coef = _widen(fit_offset_glm(X, yk, off, penalty, model.link), cols, len(model.design.sources()))
    return ArmFit(cols, penalty, list(ridge) if isinstance(ridge, tuple) else ridge, coef, score)


def _fit_t_learner(model: UpliftModel, data: LearnerInputs) -> dict[str, Any]:
    """One offset GLM per offer arm, each arm's ridge by CV deviance on its own outcomes; bootstrap
    replicates with the same penalty (replicate b with control model b mod M)."""
    ridges: dict[str, Any] = {}
    deviance: dict[str, float] = {}
    for offer, m in data.rows_by_offer.items():
        rows, yk = data.train[m], data.y[m].astype(float)
        arm = fit_arm(model, offer, rows, yk, model._offset(model.control_probability(rows)), data.cfg, data.seed)
        ridges[offer], model.coef[offer] = arm.ridge, arm.coef
        if arm.cv_deviance is not None:
            deviance[offer] = arm.cv_deviance
        X = model.design.transform(rows)[:, arm.cols]
        boots = []
        for off in _replicate_offsets(model, rows, data.cfg.bootstrap):
            idx = data.rng.integers(0, len(yk), len(yk))
            w = fit_offset_glm(X[idx], yk[idx], off[idx], arm.penalty, model.link)
            boots.append(_widen(w, arm.cols, len(arm.coef)))
        model.boot[offer] = np.asarray(boots) if boots else np.empty((0, len(arm.coef)))
    return {"ridge": ridges, "ridge_cv_deviance": deviance} if deviance else {"ridge": ridges}


def _fit_pooled(model: UpliftModel, data: LearnerInputs) -> dict[str, Any]:
    """All offer arms as one GLM: shared modifiers + per-arm deviations, the ridge pair by CV deviance."""
    cfg, offers, K = data.cfg, list(data.rows_by_offer), len(data.rows_by_offer)
    arm_idx = np.full(len(data.train), -1)
    for k, offer in enumerate(offers):
        arm_idx[data.rows_by_offer[offer]] = k
    m_all = arm_idx >= 0
    rows, a = data.train[m_all], arm_idx[m_all]
    X = model.design.transform(rows)
    d = X.shape[1]
    Z, yk = pooled_design(X, a, K), data.y[m_all].astype(float)
    off = model._offset(model.control_probability(rows))
    grids = (list(cfg.shared_ridge_grid or [1e6]), list(cfg.ridge_grid or [cfg.ridge]))
    (ls, ld), scores = choose_pooled_ridge(Z, yk, off, d, K, *grids, model.link, cfg.ridge_cv_folds, data.seed)
    pen = pooled_penalty(d, K, ls, ld)
    for k, w in enumerate(pooled_coefs(fit_offset_glm(Z, yk, off, pen, model.link), d, K)):
        model.coef[offers[k]] = w
    boots: list[list[np.ndarray]] = [[] for _ in offers]
    groups = [np.nonzero(a == k)[0] for k in range(K)]
    for boot_off in _replicate_offsets(model, rows, cfg.bootstrap):
        idx = np.concatenate([g[data.rng.integers(0, len(g), len(g))] for g in groups])  # stratified by arm
        for k, wk in enumerate(pooled_coefs(fit_offset_glm(Z[idx], yk[idx], boot_off[idx], pen, model.link), d, K)):
            boots[k].append(wk)
    for k, offer in enumerate(offers):
        model.boot[offer] = np.asarray(boots[k]) if boots[k] else np.empty((0, d))
    return {"ridge": {"shared": ls, "deviation": ld}, "ridge_cv_deviance": scores}


LEARNERS = {"t_learner": _fit_t_learner, "pooled": _fit_pooled}


def _widen(w: np.ndarray, cols: np.ndarray, d: int) -> np.ndarray:
    """Coefficients of a fit on the columns ``cols`` in the full design's layout (0 elsewhere)."""
    if len(cols) == d:
        return w
    out = np.zeros(d)
    out[cols] = w
    return out
