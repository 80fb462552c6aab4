"""What an attacker may change, and by how much (the threat model of docs/threat_model.md).

Bounds come from params (``harden.mutable``: per-feature limits of one manipulation at
``budget`` 1.0) and from the training data (each feature's valid range is the range seen on
training customers, narrowed by natural limits such as a rate in [0, 1]). Everything not
listed as mutable is immutable: an attack never changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churnguard.adversarial.config import HardenConfig

NATURAL_RANGES = {"cart_abandonment_rate": (0.0, 1.0), "paperless_billing": (0.0, 1.0)}


@dataclass
class FeatureBounds:
    """Per-feature manipulation limits in raw units; ``budget`` scales every limit."""

    mutable: list[str]  # mutable numeric features, attack order
    up: np.ndarray  # absolute increase allowed (budget 1.0)
    down: np.ndarray  # absolute decrease allowed
    rel_up: np.ndarray  # relative increase allowed (share of current value)
    rel_down: np.ndarray  # relative decrease allowed
    integer: np.ndarray  # bool: counts stay whole numbers
    lo: np.ndarray  # valid range (from training data and natural limits)
    hi: np.ndarray
    categorical: dict[str, list[str]] = field(default_factory=dict)  # mutable categorical -> valid values
    budget: float = 1.0

    @classmethod
    def from_params(
        cls, cfg: HardenConfig, train: pd.DataFrame, numeric: list[str], categorical: list[str]
    ) -> FeatureBounds:
        mutable = [c for c in cfg.mutable if c in numeric]
        spec = [cfg.limit(c) for c in mutable]
        lo, hi = [], []
        for c in mutable:
            col = pd.to_numeric(train[c], errors="coerce")
            a, b = float(np.nanmin(col)), float(np.nanmax(col))
            na, nb = NATURAL_RANGES.get(c, (0.0, np.inf))
            lo.append(max(a, na))
            hi.append(min(b, nb))
        cats = {
            c: sorted(map(str, train[c].dropna().astype(str).unique()))
            for c in cfg.mutable_categorical
            if c in categorical
        }
        return cls(
            mutable,
            np.array([s.up for s in spec], dtype=float),
            np.array([s.down for s in spec], dtype=float),
            np.array([s.rel_up for s in spec], dtype=float),
            np.array([s.rel_down for s in spec], dtype=float),
            np.array([s.integer for s in spec], dtype=bool),
            np.array(lo),
            np.array(hi),
            cats,
            float(cfg.budget),
        )

    def box(self, x: np.ndarray, budget: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-row [low, high] an attacker may reach from raw mutable values ``x`` (n, m)."""
        b = self.budget if budget is None else budget
        x = np.asarray(x, dtype=float)
        low = x - b * (self.down + self.rel_down * np.abs(x))
        high = x + b * (self.up + self.rel_up * np.abs(x))
        low = np.maximum(low, np.minimum(self.lo, x))  # a value already outside the range may stay
        high = np.minimum(high, np.maximum(self.hi, x))
        ilo, ihi = np.ceil(low - 1e-9), np.floor(high + 1e-9)
        low = np.where(self.integer, np.minimum(ilo, x), low)
        high = np.where(self.integer, np.maximum(ihi, x), high)
        return low, high

    def project(self, x_orig: np.ndarray, x_adv: np.ndarray, budget: float | None = None) -> np.ndarray:
        """Clip to the box and round counts; the result is always a valid manipulation."""
        low, high = self.box(x_orig, budget)
        out = np.clip(np.asarray(x_adv, dtype=float), low, high)
        rounded = np.clip(np.round(out), low, high)
        return np.where(self.integer, rounded, out)

    def violations(
        self,
        orig: pd.DataFrame,
        adv: pd.DataFrame,
        immutable: list[str],
        budget: float | None = None,
        tol: float = 1e-6,
    ) -> dict[str, int]:
        """Count broken rules per kind (all zero for a valid attack)."""
        out = {"immutable_changed": 0, "out_of_box": 0, "not_integer": 0, "invalid_category": 0}
        for c in immutable:
            a, b = orig[c].to_numpy(), adv[c].to_numpy()
            same = (a == b) | (pd.isna(a) & pd.isna(b))
            out["immutable_changed"] += int((~same).sum())
        x0 = orig[self.mutable].to_numpy(dtype=float)
        x1 = adv[self.mutable].to_numpy(dtype=float)
        low, high = self.box(x0, budget)
        slack = tol * (1.0 + np.abs(x0))
        ok = np.isnan(x0) & np.isnan(x1) | ((x1 >= low - slack) & (x1 <= high + slack))
        out["out_of_box"] = int((~ok).sum())
        frac = np.abs(x1 - np.round(x1)) > tol
        out["not_integer"] = int((frac & self.integer & ~np.isnan(x1)).sum())
        for c, values in self.categorical.items():
            out["invalid_category"] += int((~adv[c].astype(str).isin(values)).sum())
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "categorical": self.categorical,
            "features": {
                c: {
                    "up": self.up[i],
                    "down": self.down[i],
                    "rel_up": self.rel_up[i],
                    "rel_down": self.rel_down[i],
                    "integer": bool(self.integer[i]),
                    "range": [self.lo[i], self.hi[i]],
                }
                for i, c in enumerate(self.mutable)
            },
        }
