"""Our own exhaustive search of the small action space around a customer's original row, for rows
where the backend's (projected) proposal is still invalid."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from churnguard.interventions.counterfactual.action_space import ActionSpace, ranks
from churnguard.interventions.counterfactual.predictor import _Predictor

Axis = tuple[str, np.ndarray, np.ndarray]  # (feature, values (n, m), allowed (n, m)); column 0 = unchanged


def _categorical_axis(c: str, raw: np.ndarray, levels: list[str], ok_levels: np.ndarray) -> Axis:
    vals = np.empty((len(raw), 1 + len(levels)), dtype=object)
    vals[:, 0], vals[:, 1:] = raw, np.asarray(levels, dtype=object)[None, :]
    ok = np.ones(vals.shape, dtype=bool)
    ok[:, 1:] = ok_levels
    return c, vals, ok


def _axes(space: ActionSpace, rows: pd.DataFrame) -> list[Axis]:
    """Per actionable feature, each row's candidate values: ordered categoricals kept or moved to any
    higher level, capped numerics kept or cut by their full cap, free categoricals kept or set to any
    other of their values."""
    n = len(rows)
    axes: list[Axis] = []
    for c, order in space.ordered.items():
        raw = rows[c].to_numpy(dtype=object)
        r = ranks(pd.Series(raw).astype(str).to_numpy(), order)
        axes.append(_categorical_axis(c, raw, order, (r[:, None] >= 0) & (np.arange(len(order))[None, :] > r[:, None])))
    for c, cap in space.decrease_caps.items():
        v = pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=float)
        cut = np.round(v * (1 - cap), 2)
        axes.append((c, np.stack([v, cut], axis=1), np.stack([np.ones(n, bool), np.isfinite(v) & (cut < v)], axis=1)))
    for c, values in space.free_values.items():
        raw = rows[c].to_numpy(dtype=object)
        other = pd.Series(raw).astype(str).to_numpy()[:, None] != np.asarray(values, dtype=object)[None, :]
        axes.append(_categorical_axis(c, raw, values, other))
    return axes


def repair(space: ActionSpace, predictor: _Predictor, original: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Exhaustive search of the (small) action space around each ``original`` row: the valid candidate
    with the fewest changed features (then the lowest probability); the row unchanged when none is
    valid. Vectorised: one candidate grid for all rows, invalid cells masked, every valid candidate
    scored in one batch."""
    rows = original.reindex(columns=space.features).reset_index(drop=True)
    out = rows.copy()
    if len(rows) == 0:
        return out
    axes = _axes(space, rows)
    if not axes:
        return out
    grid = np.array(list(itertools.product(*[range(v.shape[1]) for _, v, _ in axes])), dtype=np.int64)  # (C, A)
    allowed = np.ones((len(rows), len(grid)), dtype=bool)
    for a, (_, _, ok) in enumerate(axes):
        allowed &= ok[:, grid[:, a]]
    owners, cidx = np.nonzero(allowed)
    cand = {c: rows[c].to_numpy()[owners] for c in space.features}
    for a, (c, vals, _) in enumerate(axes):
        cand[c] = vals[owners, grid[cidx, a]]
    p = predictor.proba(pd.DataFrame(cand))
    changed = (grid[cidx] != 0).sum(axis=1)
    ok = p < threshold
    order = np.lexsort((p, changed, ~ok, owners))  # per owner: valid first, fewest changes, lowest p
    first = order[np.r_[True, owners[order][1:] != owners[order][:-1]]]
    first = first[ok[first]]
    for a, (c, vals, _) in enumerate(axes):
        col = out[c].to_numpy(dtype=float if c in space.decrease_caps else object).copy()
        col[owners[first]] = vals[owners[first], grid[cidx[first], a]]
        out[c] = col
    return out
