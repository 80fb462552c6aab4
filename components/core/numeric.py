"""Small numeric helpers shared by the world, the models and the parts (one definition each)."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray | float, clip: float | None = None) -> np.ndarray:
    """1 / (1 + exp(-x)); ``clip`` bounds |x| first where a linear predictor can run away."""
    x = np.asarray(x, dtype=float)
    if clip is not None:
        x = np.clip(x, -clip, clip)
    return 1.0 / (1.0 + np.exp(-x))


def logit(p: np.ndarray | float, eps: float = 1e-6) -> np.ndarray:
    """log(p / (1 - p)) with p clipped to [eps, 1 - eps] (a probability of exactly 0 or 1 is infinite)."""
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.log(p / (1 - p))
