"""The offer models' effect design: which customer attributes may change how much an offer works.

Columns: an intercept, the standardised numeric modifiers (``log_numeric`` ones as ``log1p``), the
one-hot categoricals, then optional terms closer to how offers act: ``interactions`` (a categorical's
one-hot times a standardised numeric, e.g. plan x usage: an upgrade helps low-usage customers only
below the top plan) and ``hinges`` (``max(0, z - knot)`` at the training quantiles of a numeric: a
piecewise-linear effect such as a capped ticket count). Every extra column is ridge-penalised like
the rest, the ridge chosen by cross-validated deviance on the arm's own outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Design:
    """Standardised numeric columns + one-hot categoricals (+ interactions, hinges): the effect model's inputs."""

    numeric: list[str]
    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    categories: dict[str, list[str]]
    log_numeric: list[str] = field(default_factory=list)
    interactions: list[tuple[str, str]] = field(default_factory=list)  # (categorical, numeric)
    hinges: dict[str, list[float]] = field(default_factory=dict)  # numeric -> knots on its standardised scale

    def _numeric(self, frame: pd.DataFrame) -> np.ndarray:
        num = frame.reindex(columns=self.numeric).apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        for j, c in enumerate(self.numeric):
            if c in self.log_numeric:
                num[:, j] = np.log1p(np.clip(num[:, j], 0, None))
        return num

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        numeric: list[str],
        categorical: list[str],
        max_levels: int = 12,
        log_numeric: list[str] | None = None,
        interactions: list[tuple[str, str]] | None = None,
        hinge_knots: dict[str, int] | None = None,
    ) -> Design:
        zeros, ones = np.zeros(len(numeric)), np.ones(len(numeric))
        probe = cls(numeric, zeros, zeros, ones, {}, list(log_numeric or []))
        num = probe._numeric(frame)
        med = np.nan_to_num(np.nanmedian(num, axis=0), nan=0.0) if len(num) else zeros
        filled = np.where(np.isnan(num), med, num)
        mean, sd = filled.mean(0), filled.std(0)
        cats = {c: [str(v) for v in frame[c].astype(str).value_counts().index[:max_levels]] for c in categorical}
        scales = np.where(sd > 1e-9, sd, 1.0)
        design = cls(numeric, med, mean, scales, cats, list(log_numeric or []), _checked(interactions, cats, numeric))
        z = design._standardised(frame)
        design.hinges = {c: _knots(z[:, numeric.index(c)], k) for c, k in (hinge_knots or {}).items() if c in numeric}
        return design

    def _standardised(self, frame: pd.DataFrame) -> np.ndarray:
        num = self._numeric(frame)
        num = np.where(np.isnan(num), self.medians, num)
        return np.clip((num - self.means) / self.scales, -5, 5)

    def _onehot(self, frame: pd.DataFrame, c: str) -> np.ndarray:
        col = frame[c].astype(str).to_numpy() if c in frame.columns else np.full(len(frame), "missing")
        return (col[:, None] == np.asarray(self.categories[c])[None, :]).astype(float)

    def sources(self) -> list[str]:
        """The customer attribute behind each column of :meth:`transform` ("" for the intercept; an
        interaction or hinge counts as its numeric's)."""
        out = ["", *self.numeric]
        out += [c for c, levels in self.categories.items() for _ in levels]
        out += [x for c, x in getattr(self, "interactions", []) for _ in self.categories[c]]
        out += [x for x, knots in getattr(self, "hinges", {}).items() for _ in knots]
        return out

    def columns_for(self, modifiers: list[str] | None) -> np.ndarray:
        """Positions of the intercept and the columns of these modifiers (None: every column)."""
        sources = self.sources()
        if modifiers is None:
            return np.arange(len(sources))
        return np.asarray([j for j, src in enumerate(sources) if src == "" or src in set(modifiers)])

    def categorical_columns(self) -> np.ndarray:
        """Positions of the categorical one-hot columns in :meth:`transform`'s output."""
        start = 1 + len(self.numeric)
        return np.arange(start, start + sum(len(v) for v in self.categories.values()))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        z = self._standardised(frame)
        parts = [np.ones((len(frame), 1)), z]
        parts += [self._onehot(frame, c) for c in self.categories]
        for c, x in getattr(self, "interactions", []):
            parts.append(self._onehot(frame, c) * z[:, [self.numeric.index(x)]])
        for x, knots in getattr(self, "hinges", {}).items():
            parts.append(np.maximum(0.0, z[:, [self.numeric.index(x)]] - np.asarray(knots)[None, :]))
        return np.hstack(parts)


def _checked(pairs: list[tuple[str, str]] | None, cats: dict[str, list[str]], numeric: list[str]) -> list:
    """Interactions whose categorical and numeric are both in the design (a data source may lack one)."""
    return [(c, x) for c, x in (pairs or []) if c in cats and x in numeric]


def _knots(z: np.ndarray, count: int) -> list[float]:
    """``count`` distinct interior quantiles of the standardised column (fewer where values repeat)."""
    if count < 1 or len(z) == 0:
        return []
    qs = np.quantile(z, np.linspace(0, 1, count + 2)[1:-1])
    return [float(q) for q in np.unique(qs) if q < z.max()]
