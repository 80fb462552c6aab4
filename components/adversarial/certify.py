"""Exact worst case inside the manipulation box, for models whose behaviour terms are monotone.

A ``RobustNet`` with ``architecture: monotone`` scores ``context_net(immutables, categoricals)
+ sum_j direction_j * g_j(denoise_j(z_j))`` where every ``g_j`` and the denoising squash are
increasing and the mutable codes ``z_j`` are increasing in the raw values (log1p,
standardisation). So the highest logit an attacker can reach from a customer is at the corner
of its box that moves each mutable feature in its ``direction`` (up for +1, down for -1),
with the best valid value of each mutable categorical (enumerated: a few values). That is the
*certified* worst case: no attack within the box (PGD, GAN, anything) can do better, so the
attack success it implies is an upper bound, not an estimate. The same corner with the
opposite directions is the risk hider's best move (the lowest logit).

The corner is also a strong black-box attack on any model (the base model included): it needs
no gradients, only the churn-ward direction of each feature.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from churnguard.adversarial.attacks import AttackSpace
from churnguard.adversarial.bounds import FeatureBounds


def label_directions(z_mutable: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Churn-ward direction (+1 / -1) of each mutable code column from the training labels."""
    cov = ((z_mutable - z_mutable.mean(0)) * (y - y.mean())[:, None]).sum(0)
    return np.where(cov >= 0, 1.0, -1.0)


def corner(space: AttackSpace, direction: torch.Tensor, up: bool = True, rows=None) -> torch.Tensor:
    """Raw mutable values at the churn-ward (``up``) or the opposite corner of each row's box."""
    low, high = (space.low, space.high) if rows is None else (space.low[rows], space.high[rows])
    towards_high = (direction > 0) if up else (direction < 0)
    return torch.where(towards_high, high, low)


def _category_choices(space: AttackSpace) -> list[list[tuple[slice, int]]]:
    """Every combination of valid values of the mutable categoricals, as (block, position) pairs."""
    per_block = []
    for col, block in space.cat_blocks:
        allowed = set(space.bounds.categorical[col])
        per_block.append([(block, k) for k, v in enumerate(space.enc.categories[col]) if v in allowed])
    return [list(combo) for combo in itertools.product(*per_block)] if per_block else [[]]


def _with_categories(onehot: torch.Tensor, combo: list[tuple[slice, int]]) -> torch.Tensor:
    oh = onehot.clone()
    for block, k in combo:
        oh[:, block] = 0.0
        oh[:, block.start + k] = 1.0
    return oh


def worst_case_logit(
    model: nn.Module, space: AttackSpace, direction: torch.Tensor, rows=None, up: bool = True
) -> torch.Tensor:
    """Highest (``up``) or lowest logit of ``model`` over each row's box: exact for a monotone
    ``RobustNet`` whose behaviour directions are ``direction``. Differentiable (for training)."""
    x = corner(space, direction, up, rows)
    onehot = space.onehot if rows is None else space.onehot[rows]
    logits = torch.stack(
        [model(space.encode(x, _with_categories(onehot, combo), rows)) for combo in _category_choices(space)], dim=1
    )
    return logits.max(1).values if up else logits.min(1).values


def corner_attack(
    space: AttackSpace, direction: torch.Tensor, score: Callable[[pd.DataFrame], np.ndarray]
) -> pd.DataFrame:
    """Black-box attack: every row at its churn-ward corner, with the categorical values that
    give the highest ``score`` (any model: a probability or a logit per row)."""
    x = corner(space, direction, up=True)
    best: pd.DataFrame | None = None
    best_score = np.zeros(0)
    for combo in _category_choices(space):
        adv = space.materialize(x, _with_categories(space.onehot, combo))
        s = np.asarray(score(adv), dtype=float)
        if best is None:
            best, best_score = adv, s
        else:
            better = s > best_score
            best = best.where(~pd.Series(better, index=best.index), adv, axis=0)
            best_score = np.where(better, s, best_score)
    assert best is not None  # _category_choices always yields at least one combination
    return best


def reverse_bounds(bounds: FeatureBounds) -> FeatureBounds:
    """The box of values a customer may have had before one manipulation that ended at the
    observed values: every limit mirrored (an attacker who may add 3 tickets may have started 3
    lower; a 30 % rise from x0 means x0 = x / 1.3)."""
    return dataclasses.replace(
        bounds,
        up=bounds.down,
        down=bounds.up,
        rel_up=bounds.rel_down / np.maximum(1.0 - bounds.rel_down, 1e-9),
        rel_down=bounds.rel_up / (1.0 + bounds.rel_up),
    )


def lowest_logit_before_manipulation(
    model: nn.Module, space: AttackSpace, direction: torch.Tensor, x: torch.Tensor | None = None
) -> torch.Tensor:
    """The monotone model's lowest logit over the customers who could have been manipulated into
    each row (``space`` built on :func:`reverse_bounds`): the anti-churn corner of the reverse
    box, with every valid value of the mutable categoricals. For an attack within that box it is
    at most the logit of the customer before the attack, whatever the attack did. ``x``: raw
    mutable values to take instead of the space's own (differentiable, for attacks)."""
    if x is None:
        low, high = space.low, space.high
    else:
        low, high = reverse_box_t(space, x)
    corner_x = torch.where(direction > 0, low, high)
    combos = _category_choices(space)
    # encode once, swap the one-hot tail per payment-method variant, one forward pass over all of them
    codes = space.encode(corner_x)
    tail = codes.shape[1] - space.onehot.shape[1]
    variants = [torch.cat([codes[:, :tail], _with_categories(space.onehot, combo)], 1) for combo in combos]
    return model(torch.cat(variants)).reshape(len(combos), -1).min(0).values


def reverse_box_t(space: AttackSpace, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:meth:`FeatureBounds.box` in torch (differentiable in ``x``; counts not rounded)."""
    b = space.bounds
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=float), dtype=torch.float32)
    low = x - b.budget * (t(b.down) + t(b.rel_down) * x.abs())
    high = x + b.budget * (t(b.up) + t(b.rel_up) * x.abs())
    low = torch.maximum(low, torch.minimum(t(b.lo), x))
    high = torch.minimum(high, torch.maximum(t(b.hi), x))
    return low, high
