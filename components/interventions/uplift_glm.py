"""Ridge-penalised offset GLMs for the offer arms: Newton/IRLS fit, cross-validated ridge, pooled design.

Pure numpy on the effect design (column 0 the intercept). Used by :mod:`churnguard.interventions.uplift`.
"""

from __future__ import annotations

import numpy as np

from churnguard.core.numeric import sigmoid

EPS = 1e-4


def fit_offset_glm(
    X: np.ndarray, y: np.ndarray, offset: np.ndarray, ridge: float | np.ndarray, link: str, iters: int = 30
) -> np.ndarray:
    """Newton/IRLS with an offset and a ridge penalty (column 0, the intercept, is not penalised).

    ``link="log"``: Poisson quasi-likelihood, ``E[y|x] = exp(offset + Xw)`` with ``offset = log mu_0``,
    i.e. the offer multiplies the churn probability by ``exp(Xw)`` (consistent for the mean whatever
    the outcome's distribution). ``link="logit"``: logistic regression with ``offset = logit mu_0``.
    """
    d = X.shape[1]
    w = np.zeros(d)
    if np.ndim(ridge):
        pen = np.asarray(ridge, dtype=float)  # one penalty per column (pooled design)
    else:
        pen = np.full(d, float(ridge))
        pen[0] = 1e-6
    for _ in range(iters):
        eta = np.clip(offset + X @ w, -30, 3)
        if link == "log":
            mu = np.exp(eta)
            weight = mu
        else:
            mu = sigmoid(eta, clip=30)
            weight = mu * (1 - mu)
        grad = X.T @ (y - mu) - pen * w
        H = (X * weight[:, None]).T @ X + np.diag(pen)
        step = np.linalg.solve(H, grad)
        step = np.clip(step, -2, 2)
        w += step
        if np.max(np.abs(step)) < 1e-6:
            break
    return w


def _deviance(y: np.ndarray, mu: np.ndarray, link: str) -> float:
    mu = np.clip(mu, EPS, 1 - EPS)
    if link == "log":  # Poisson deviance
        return float(2 * np.sum(np.where(y > 0, y * np.log(np.maximum(y, EPS) / mu), 0.0) - (y - mu)))
    return float(-2 * np.sum(y * np.log(mu) + (1 - y) * np.log(1 - mu)))


Ridge = float | tuple[float, float]  # one penalty, or (the rest, the categorical one-hot columns)


def ridge_penalty(d: int, ridge: Ridge, categorical: np.ndarray | None = None) -> float | np.ndarray:
    """The penalty ``fit_offset_glm`` takes: a number, or one per column when the categorical
    columns have their own (the intercept is never penalised)."""
    if not isinstance(ridge, tuple):
        return float(ridge)
    pen = np.full(d, float(ridge[0]))
    if categorical is not None:
        pen[categorical] = float(ridge[1])
    pen[0] = 1e-6
    return pen


def choose_ridge(
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    grid: list[float],
    link: str,
    folds: int,
    seed: int,
    categorical: np.ndarray | None = None,
    categorical_grid: list[float] | None = None,
) -> tuple[Ridge, dict[Ridge, float]]:
    """Ridge penalty by K-fold cross-validated deviance on the arm's own (observable) outcomes; with a
    ``categorical_grid`` the pair (rest, categorical columns) over both grids."""
    fold = np.random.default_rng(seed).integers(0, folds, len(y))
    keys: list[Ridge] = (
        [(float(a), float(b)) for a in grid for b in categorical_grid] if categorical_grid else [float(a) for a in grid]
    )
    d = X.shape[1]
    scores: dict[Ridge, float] = {
        k: _cv_deviance(X, y, offset, ridge_penalty(d, k, categorical), link, fold, folds) for k in keys
    }
    return min(scores.items(), key=lambda kv: kv[1])[0], scores


def _cv_deviance(
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    penalty: float | np.ndarray,
    link: str,
    fold: np.ndarray,
    folds: int,
) -> float:
    """Held-out deviance summed over the folds of a ridge offset GLM with this penalty."""
    dev = 0.0
    for f in range(folds):
        tr, te = fold != f, fold == f
        w = fit_offset_glm(X[tr], y[tr], offset[tr], penalty, link)
        eta = offset[te] + X[te] @ w
        mu = np.exp(np.clip(eta, -30, 0)) if link == "log" else sigmoid(eta, clip=30)
        dev += _deviance(y[te], mu, link)
    return dev


def pooled_design(X: np.ndarray, arm: np.ndarray, K: int) -> np.ndarray:
    """Pooled offer design: shared effect modifiers (all arms) + one block per arm (its intercept and
    its deviation from the shared modifiers). ``X``'s column 0 is the intercept."""
    n, d = X.shape
    Z = np.zeros((n, (d - 1) + K * d))
    Z[:, : d - 1] = X[:, 1:]
    for k in range(K):
        m = arm == k
        Z[m, d - 1 + k * d : d - 1 + (k + 1) * d] = X[m]
    return Z


def pooled_penalty(d: int, K: int, shared: float, deviation: float) -> np.ndarray:
    pen = np.full((d - 1) + K * d, float(deviation))
    pen[: d - 1] = float(shared)
    pen[d - 1 + np.arange(K) * d] = 1e-6  # arm intercepts are not penalised
    return pen


def pooled_coefs(w: np.ndarray, d: int, K: int) -> list[np.ndarray]:
    """Per-arm coefficients (intercept, modifiers) of a pooled fit, in the per-arm design's layout."""
    shared = w[: d - 1]
    out = []
    for k in range(K):
        blk = w[d - 1 + k * d : d - 1 + (k + 1) * d]
        out.append(np.r_[blk[0], shared + blk[1:]])
    return out


def choose_pooled_ridge(
    Z: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    d: int,
    K: int,
    shared_grid: list[float],
    deviation_grid: list[float],
    link: str,
    folds: int,
    seed: int,
) -> tuple[tuple[float, float], dict[str, float]]:
    """(shared, deviation) ridge pair by K-fold cross-validated deviance on the treated customers'
    own (observable) outcomes. A very large shared ridge is the unpooled T-learner."""
    fold = np.random.default_rng(seed).integers(0, folds, len(y))
    scores = {
        (float(ls), float(ld)): _cv_deviance(Z, y, offset, pooled_penalty(d, K, ls, ld), link, fold, folds)
        for ls in shared_grid
        for ld in deviation_grid
    }
    best = min(scores, key=lambda k: scores[k])
    return best, {f"{a:g}/{b:g}": v for (a, b), v in scores.items()}
