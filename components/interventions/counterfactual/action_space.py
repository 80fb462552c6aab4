"""The action space of a counterfactual: which model features may change, how, and the projection of
any backend's proposal onto it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnguard.features.table import FeatureSchema
from churnguard.interventions.config import FitCounterfactualConfig


@dataclass
class ActionSpace:
    """Which model features may change, and how."""

    features: list[str]  # the model's feature order (categorical first)
    categorical: list[str]
    numeric: list[str]
    decrease_caps: dict[str, float]  # numeric feature -> max relative decrease (0.2 = 20 %)
    ordered: dict[str, list[str]]  # categorical -> order; may only move up
    free_values: dict[str, list[str]]  # categorical -> values it may be set to
    medians: dict[str, float] = field(default_factory=dict)  # numeric imputation in the search space
    categories: dict[str, list[str]] = field(default_factory=dict)

    @property
    def actionable(self) -> list[str]:
        return [f for f in self.features if f in self.decrease_caps or f in self.ordered or f in self.free_values]

    @property
    def immutable(self) -> list[str]:
        act = set(self.actionable)
        return [f for f in self.features if f not in act]

    @classmethod
    def from_params(cls, cfg: FitCounterfactualConfig, schema: FeatureSchema, train: pd.DataFrame) -> ActionSpace:
        decrease: dict[str, float] = {}
        ordered: dict[str, list[str]] = {}
        free: dict[str, list[str]] = {}
        for name, spec in cfg.actionable.items():
            if name not in schema.columns:
                continue  # this data source has no such feature: nothing to act on
            if spec.max_relative_decrease is not None:
                decrease[name] = spec.max_relative_decrease
            elif spec.order is not None:
                ordered[name] = list(spec.order)
            elif spec.values is not None:
                free[name] = list(spec.values)
        for name in cfg.immutable:
            if name in decrease or name in ordered or name in free:
                raise ValueError(f"fit_counterfactual: {name!r} is both immutable and actionable")
        num = train[schema.numeric].apply(pd.to_numeric, errors="coerce")
        medians = {c: float(v) if np.isfinite(v) else 0.0 for c, v in num.median().items()}
        cats = {}
        for c in schema.categorical:
            values = sorted(set(train[c].astype(str)) | set(ordered.get(c, [])) | set(free.get(c, [])))
            cats[c] = values
        return cls(
            schema.columns, list(schema.categorical), list(schema.numeric), decrease, ordered, free, medians, cats
        )

    def impute(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.reindex(columns=self.features).copy()
        for c in self.numeric:
            out[c] = pd.to_numeric(out[c], errors="coerce").fillna(self.medians.get(c, 0.0)).astype(float)
        for c in self.categorical:
            out[c] = out[c].astype(object).where(out[c].notna(), "missing").astype(str)
        return out

    def allowed(self, row: pd.Series) -> dict[str, list]:
        """Per-customer condition: categorical values allowed, numeric [low, high] absolute."""
        cond: dict[str, list] = {}
        for c, cap in self.decrease_caps.items():
            v = float(row[c])
            cond[c] = [v * (1 - cap), v]
        for c, order in self.ordered.items():
            level = str(row[c])
            cond[c] = order[order.index(level) :] if level in order else [level]
        for c, values in self.free_values.items():
            cond[c] = sorted(set(values) | {str(row[c])})
        return cond

    def project(self, original: pd.DataFrame, proposal: pd.DataFrame) -> pd.DataFrame:
        """Force a proposal onto the action space (immutables back, caps, upgrades only)."""
        out = original.reindex(columns=self.features).copy()
        for c, cap in self.decrease_caps.items():
            o = pd.to_numeric(original[c], errors="coerce").to_numpy(dtype=float)
            p = pd.to_numeric(proposal[c], errors="coerce").to_numpy(dtype=float)
            out[c] = np.round(np.clip(np.where(np.isnan(p), o, p), o * (1 - cap), o), 2)
        for c, order in self.ordered.items():
            o = original[c].astype(str).to_numpy()
            p = proposal[c].astype(str).to_numpy()
            ro, rp = ranks(o, order), ranks(p, order)
            out[c] = np.where((ro >= 0) & (rp >= ro), p, o)
        for c, values in self.free_values.items():
            o = original[c].astype(str).to_numpy()
            p = proposal[c].astype(str).to_numpy()
            out[c] = np.where(np.isin(p, values), p, o)
        return out

    def immutable_changes(self, original: pd.DataFrame, proposal: pd.DataFrame) -> np.ndarray:
        """Per row: how many immutable features a proposal changed (imputed space, tolerance 1e-4 relative)."""
        a, b = self.impute(original), self.impute(proposal)
        n = np.zeros(len(a), dtype=int)
        for c in self.immutable:
            if c in self.numeric:
                x, y = a[c].to_numpy(float), b[c].to_numpy(float)
                n += ~np.isclose(x, y, rtol=1e-4, atol=1e-4)
            else:
                n += a[c].to_numpy() != b[c].to_numpy()
        return n


def ranks(values: np.ndarray, order: list[str]) -> np.ndarray:
    """Position of each value in ``order`` (-1 where it is not in it), vectorised."""
    return pd.Categorical(np.asarray(values, dtype=object), categories=order).codes.astype(np.int64)


def changed_features(space: ActionSpace, original: pd.DataFrame, cf: pd.DataFrame) -> list[list[dict]]:
    """Per row: the actionable features whose value differs (old -> new). Vectorised comparison; only
    the changed cells are turned into Python objects."""
    n = len(original)
    out: list[list[dict]] = [[] for _ in range(n)]
    for c in space.actionable:
        o_arr, n_arr = original[c].to_numpy(), cf[c].to_numpy()
        if c in space.numeric:
            a = pd.to_numeric(pd.Series(o_arr), errors="coerce").to_numpy(dtype=float)
            b = pd.to_numeric(pd.Series(n_arr), errors="coerce").to_numpy(dtype=float)
            diff = ~np.isclose(a, b, rtol=1e-6, atol=1e-6, equal_nan=True)
        else:
            diff = pd.Series(o_arr).astype(str).to_numpy() != pd.Series(n_arr).astype(str).to_numpy()
        for i in np.nonzero(diff)[0].tolist():
            o, v = o_arr[i], n_arr[i]
            out[i].append(
                {
                    "feature": c,
                    "old": o.item() if hasattr(o, "item") else o,
                    "new": v.item() if hasattr(v, "item") else v,
                }
            )
    order = {c: j for j, c in enumerate(space.actionable)}
    return [sorted(ch, key=lambda d: order[d["feature"]]) if len(ch) > 1 else ch for ch in out]
