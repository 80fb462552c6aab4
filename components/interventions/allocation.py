"""Which offer to give whom: the best offer per customer and the budget-constrained allocation.

The allocation is a multiple-choice knapsack (each customer gets at most one offer, total cost
<= budget, maximise total expected net value). It is solved by its Lagrangian relaxation: for a
price ``lam`` on budget, each customer takes the offer maximising ``net - lam * cost`` if that is
positive; ``lam`` is bisected to the smallest value whose total cost fits, then any budget left is
filled greedily by net value per cost. Vectorised: 1M customers x 5 offers in about a second.
"""

from __future__ import annotations

import numpy as np

NONE = -1


def _choose(net: np.ndarray, cost: np.ndarray, eligible: np.ndarray, lam: float) -> np.ndarray:
    score = np.where(eligible, net - lam * cost, -np.inf)
    best = np.argmax(score, axis=1)
    ok = score[np.arange(len(best)), best] > 0
    return np.where(ok, best, NONE)


def _total_cost(choice: np.ndarray, cost: np.ndarray) -> float:
    rows = np.nonzero(choice >= 0)[0]
    return float(cost[rows, choice[rows]].sum())


def allocate(
    net: np.ndarray, cost: np.ndarray, budget: float, eligible: np.ndarray | None = None, iters: int = 60
) -> np.ndarray:
    """Offer index per customer (``-1`` = none) maximising sum of ``net`` with total ``cost`` <= ``budget``.

    ``net`` and ``cost`` are (n, K); ``eligible`` (n, K) masks offers that may be given (e.g. a
    confident positive uplift). Offers with non-positive net value are never given.
    """
    net = np.asarray(net, dtype=float)
    cost = np.asarray(cost, dtype=float)
    eligible = np.ones_like(net, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    eligible = eligible & (net > 0) & np.isfinite(net)
    choice = _choose(net, cost, eligible, 0.0)
    if _total_cost(choice, cost) <= budget:
        return choice
    lo, hi = 0.0, 1.0
    while _total_cost(_choose(net, cost, eligible, hi), cost) > budget:
        hi *= 2.0
        if hi > 1e12:
            break
    for _ in range(iters):
        mid = (lo + hi) / 2
        if _total_cost(_choose(net, cost, eligible, mid), cost) > budget:
            lo = mid
        else:
            hi = mid
    choice = _choose(net, cost, eligible, hi)
    left = budget - _total_cost(choice, cost)
    # Fill what is left: unassigned customers' best offers by net value per cost.
    free = np.nonzero(choice == NONE)[0]
    if len(free) and left > 0:
        sub = np.where(eligible[free], net[free] / np.maximum(cost[free], 1e-9), -np.inf)
        best = np.argmax(sub, axis=1)
        ratio = sub[np.arange(len(free)), best]
        order = np.argsort(-ratio, kind="stable")
        for j in order:
            if not np.isfinite(ratio[j]) or ratio[j] <= 0:
                break
            c = cost[free[j], best[j]]
            if c <= left:
                choice[free[j]] = best[j]
                left -= c
            if left <= 0:
                break
    assert _total_cost(choice, cost) <= budget + 1e-6
    return choice


def rank_offers(net: np.ndarray) -> np.ndarray:
    """1 = best offer of each customer by expected net value (the fallback sequence: 1, then 2, ...)."""
    order = np.argsort(-net, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(net.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, net.shape[1] + 1)[None, :]
    return ranks


def greedy_by_score(score: np.ndarray, offer: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    """Baseline policies: take customers in decreasing ``score`` and give each its ``offer`` while the budget lasts."""
    n = len(score)
    choice = np.full(n, NONE)
    c = cost[np.arange(n), offer]
    order = np.argsort(-score, kind="stable")
    cum = np.cumsum(c[order])
    take = order[cum <= budget]
    choice[take] = offer[take]
    return choice
