"""Adaptive attacks on the protected decision (hardened model + detectors + veto), not on a model alone.

Success = the real protected decision offers the attacked customer (decision score over its
threshold **and** verdict clean). Three attackers, each within the threat model's box:

* ``detector_aware_attack`` (white-box): projected sign-gradient ascent on the decision margin
  minus a per-customer Lagrange multiplier times the detectors' combined evidence above the
  ``suspicious`` threshold (dual ascent: the multiplier grows while the evidence is over, shrinks
  while under), through the differentiable stand-in of differentiable.py; several starting
  multipliers and a random restart; candidates checked on the real decision along the way.
* ``minimal_perturbation_attack``: the smallest share of the box (``adaptive.budgets``, ascending)
  within which gradient ascent on the decision margin earns an offer; small moves are the
  detectors' blind spot.
* ``decision_based_attack`` (black-box): IBM ART's HopSkipJump, which sees only the served
  decision (offer or not), in box coordinates ([0, 1] per mutable feature, one more per mutable
  categorical), every query projected onto the box and rounded before the decision sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from churnguard.adversarial.attacks import AttackSpace
from churnguard.adversarial.config import AdaptiveConfig
from churnguard.adversarial.differentiable import DifferentiableDecision
from churnguard.adversarial.protection import ProtectionPart
from churnguard.core.columns import Columns, as_columns, from_frame

EVIDENCE_SLACK = 1.0  # aim this far under the evidence threshold (the stand-in is not exact)
MARGIN_CAP = 1.0  # past this decision margin, effort goes to hiding from the detectors


@dataclass
class ProtectedTarget:
    """The real protected decision: exact checks of every candidate."""

    part: ProtectionPart
    base: Any  # BaseModel

    def offered(self, data: pd.DataFrame | Columns) -> np.ndarray:
        cols, n = as_columns(data)
        if n == 0:
            return np.zeros(0, bool)
        return self.part.offers(cols, self.base.proba_columns(cols, n))


@dataclass
class AttackResult:
    adversarial: pd.DataFrame  # one row per attacked customer (the original where nothing was found)
    success: np.ndarray  # the real protected decision offers the adversarial row

    def union(self, other: AttackResult) -> AttackResult:
        take = other.success & ~self.success
        adv = self.adversarial.where(~pd.Series(take, index=self.adversarial.index), other.adversarial, axis=0)
        return AttackResult(adv, self.success | other.success)


def _check(space: AttackSpace, dd: DifferentiableDecision, target: ProtectedTarget, x: torch.Tensor, found):
    """Round and project ``x``, pick the best categorical values, keep rows the real decision offers."""
    xr = space.round(x)
    adv = space.materialize(xr, space.best_categories(dd.score, xr))
    ok = target.offered(adv)
    return found.union(AttackResult(adv, ok))


def gradient_attack(
    space: AttackSpace,
    dd: DifferentiableDecision,
    target: ProtectedTarget,
    cfg: AdaptiveConfig,
    lam0: float,
    seed: int,
    random_start: float,
) -> AttackResult:
    """Gradient ascent on margin - lambda * evidence excess (lambda 0: the margin alone)."""
    g = torch.Generator().manual_seed(seed)
    width = space.high - space.low
    x = space.x0 + random_start * (torch.rand(space.x0.shape, generator=g) - 0.5) * width
    x = torch.max(torch.min(x, space.high), space.low)
    lam = torch.full((len(x),), float(lam0))
    context = dd.context(space)
    found = AttackResult(space.frame.copy(), np.zeros(len(x), bool))
    check_every = max(1, cfg.steps // 6)
    for step in range(cfg.steps):
        x = x.detach().requires_grad_(True)
        margin = torch.clamp(dd.margin(space, x), max=MARGIN_CAP)
        excess = torch.zeros_like(margin)
        if lam0 > 0:
            excess = torch.relu(dd.evidence(x, context) - dd.threshold + EVIDENCE_SLACK)
        (grad,) = torch.autograd.grad((margin - lam * excess).sum(), x)
        with torch.no_grad():
            x = torch.max(torch.min(x + cfg.step_frac * width * grad.sign(), space.high), space.low)
            if lam0 > 0:  # dual ascent on each customer's multiplier
                lam = torch.clamp(torch.where(excess > 0, lam * 1.3, lam / 1.1), 1e-3, 1e3)
        if (step + 1) % check_every == 0 or step + 1 == cfg.steps:
            found = _check(space, dd, target, x.detach(), found)
    return found


def detector_aware_attack(
    space: AttackSpace, dd: DifferentiableDecision, target: ProtectedTarget, cfg: AdaptiveConfig, seed: int
) -> AttackResult:
    """The union over starting multipliers (from the original point) and one random restart."""
    dd.part.robust.eval()
    result = AttackResult(space.frame.copy(), np.zeros(len(space.frame), bool))
    starts = [(lam, 0.0) for lam in cfg.lambdas] + [(max(cfg.lambdas), 0.5)]
    for r, (lam, start) in enumerate(starts):
        result = result.union(gradient_attack(space, dd, target, cfg, lam, seed + r, start))
    return result


def minimal_perturbation_attack(
    frame: pd.DataFrame, part: ProtectionPart, dd: DifferentiableDecision, target: ProtectedTarget, cfg: AdaptiveConfig
) -> tuple[AttackResult, np.ndarray]:
    """Per customer the smallest budget share that earns an offer (NaN: none within the box)."""
    frame = frame.reset_index(drop=True)
    result = AttackResult(frame.copy(), np.zeros(len(frame), bool))
    smallest = np.full(len(frame), np.nan)
    for k, share in enumerate(sorted(cfg.budgets)):
        todo = np.nonzero(~result.success)[0]
        if not len(todo):
            break
        space = AttackSpace.build(frame.iloc[todo], part.encoder, part.bounds, budget=share * part.bounds.budget)
        found = gradient_attack(space, dd, target, cfg, 0.0, 31 + k, 0.0)
        hit = todo[found.success]
        moved = found.adversarial[found.success].set_axis(hit)
        adv = pd.concat([result.adversarial.drop(index=hit), moved]).sort_index()
        result = AttackResult(adv, result.success | np.isin(np.arange(len(frame)), hit))
        smallest[hit] = share
    return result, smallest


def _box_coordinates(space: AttackSpace) -> tuple[np.ndarray, list[list[str]]]:
    """Each row's position in its box ([0, 1] per mutable feature) and the allowed categorical values."""
    width = (space.high - space.low).numpy()
    u = np.where(width > 0, (space.x0 - space.low).numpy() / np.maximum(width, 1e-12), 0.0)
    cats = [[v for v in space.enc.categories[c] if v in set(space.bounds.categorical[c])] for c, _ in space.cat_blocks]
    cat_u = [
        (np.array([values.index(v) if v in values else 0 for v in space.frame[c].astype(str)]) + 0.5) / len(values)
        for (c, _), values in zip(space.cat_blocks, cats)
    ]
    return np.column_stack([u, *cat_u]) if cat_u else u, cats


def decision_based_attack(
    frame: pd.DataFrame, part: ProtectionPart, target: ProtectedTarget, cfg: AdaptiveConfig, seed: int
) -> AttackResult:
    """HopSkipJump (ART) on each customer, seeing only the protected decision."""
    from art.attacks.evasion import HopSkipJump
    from art.estimators.classification import BlackBoxClassifier

    space = AttackSpace.build(frame, part.encoder, part.bounds)
    u0, cats = _box_coordinates(space)
    cols0, m = from_frame(space.frame), len(part.bounds.mutable)
    low, high, x0 = space.low.numpy().astype(float), space.high.numpy().astype(float), space.x0.numpy().astype(float)

    def to_columns(i: int, u: np.ndarray) -> Columns:
        b = len(u)
        x = part.bounds.project(np.repeat(x0[i : i + 1], b, 0), low[i] + np.clip(u[:, :m], 0, 1) * (high[i] - low[i]))
        cols = {k: np.repeat(v[i : i + 1], b) for k, v in cols0.items()}
        cols.update({c: x[:, j] for j, c in enumerate(part.bounds.mutable)})
        for j, ((c, _), values) in enumerate(zip(space.cat_blocks, cats)):
            idx = np.minimum((np.clip(u[:, m + j], 0, 1) * len(values)).astype(int), len(values) - 1)
            cols[c] = np.asarray(values, dtype=object)[idx]
        return cols

    rows, ok = [], np.zeros(len(space.frame), bool)
    np.random.seed(seed)  # ART draws from numpy's global generator
    for i in range(len(space.frame)):

        def predict(u: np.ndarray, i: int = i) -> np.ndarray:
            offered = target.offered(to_columns(i, np.asarray(u, dtype=float))).astype(float)
            return np.stack([1.0 - offered, offered], axis=1)

        clf = BlackBoxClassifier(predict, input_shape=(u0.shape[1],), nb_classes=2, clip_values=(0.0, 1.0))
        hsj = HopSkipJump(
            clf, targeted=False, norm=2, max_iter=cfg.blackbox_iterations, max_eval=cfg.blackbox_max_evals,
            init_eval=20, init_size=50, verbose=False,
        )  # fmt: skip
        adv_u = hsj.generate(u0[i : i + 1].astype(np.float32)).astype(float)
        cols = to_columns(i, adv_u)
        ok[i] = bool(target.offered(cols)[0])
        rows.append(pd.DataFrame({k: v for k, v in cols.items()}))
    adv = pd.concat(rows, ignore_index=True)[space.frame.columns] if rows else space.frame.copy()
    return AttackResult(adv, ok)
