"""Scenario sweeps: every scenario over every customer, sharded; then the budget allocation.

A shard is the set of customers whose stable id hash modulo ``shards`` equals its index, so any
orchestrator (the DVC stage here, Airflow dynamic task mapping in the nightly DAG) can run shards
independently: ``churnguard sweep --shard I --shards N --out DIR`` writes ``DIR/shard-I.parquet``.
Merging shards and allocating the budget is one cheap global step (``allocate_sweep``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import ID, LABEL, SPLIT
from churnguard.interventions.allocation import NONE, allocate
from churnguard.interventions.config import SweepConfig

SEGMENT_COLUMNS = ["contract", "plan", "income_band"]
CONTEXT_COLUMNS = [*SEGMENT_COLUMNS, "monthly_charges", "campaign_offer", LABEL, SPLIT, "is_cold_start"]


def shard_mask(ids: pd.Series, shard: int, shards: int) -> np.ndarray:
    """Stable shard membership (independent of row order and of the process)."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is outside 0..{shards - 1}")
    h = pd.util.hash_pandas_object(ids.astype(str).reset_index(drop=True), index=False).to_numpy()
    return (h % np.uint64(shards)).astype(np.int64) == shard


def run_shard(
    part: Any, features: pd.DataFrame, shard: int, shards: int, out_dir: Path, chunk_rows: int = 200_000
) -> Path:
    """Score every scenario for one shard's customers into ``out_dir/shard-I.parquet`` (tidy table)."""
    rows = features[shard_mask(features[ID], shard, shards)].reset_index(drop=True)
    parts = []
    for start in range(0, max(len(rows), 1), chunk_rows):
        chunk = rows.iloc[start : start + chunk_rows].reset_index(drop=True)
        if chunk.empty:
            break
        rec = part.recommend(chunk, out_of_fold=True)
        ctx = chunk.reindex(columns=[ID, *CONTEXT_COLUMNS])
        parts.append(rec.merge(ctx, on=ID, how="left"))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"shard-{shard}.parquet"
    table.to_parquet(path, index=False)
    return path


def read_sweep(sweep_dir: Path) -> pd.DataFrame:
    files = sorted(Path(sweep_dir).glob("shard-*.parquet"), key=lambda p: int(p.stem.split("-")[1]))
    if not files:
        raise FileNotFoundError(f"no shard-*.parquet in {sweep_dir}: run `churnguard sweep` first")
    table = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    layout = _blocks(table)
    if layout is None:  # not K rows per customer in one offer order: the general (slower) sort
        return table.sort_values([ID, "offer"], kind="stable").reset_index(drop=True)
    K, ids, offers = layout
    cust = np.argsort(ids[::K], kind="stable")
    idx = (cust[:, None] * K + np.argsort(offers[:K], kind="stable")[None, :]).ravel()
    return table.take(idx).reset_index(drop=True)


def _blocks(table: pd.DataFrame) -> tuple[int, np.ndarray, np.ndarray] | None:
    """``(K, ids, offers)`` when the table is customer-major, K consecutive rows per customer (one per
    offer) in the same offer order for every customer (what ``recommend`` writes); else None."""
    if table.empty or "offer" not in table.columns:
        return None
    offers = table["offer"].to_numpy()
    K = len(pd.unique(offers))
    if len(table) % K:
        return None
    ids = table[ID].to_numpy()
    n = len(table) // K
    if not ((offers.reshape(n, K) == offers[:K][None, :]).all() and (ids.reshape(n, K) == ids[::K][:, None]).all()):
        return None
    return K, ids, offers


def wide(table: pd.DataFrame, column: str, offers: list[str]) -> np.ndarray:
    """(n_customers, K) array of ``column`` with customers in sorted id order."""
    layout = _blocks(table) if len(offers) == table["offer"].nunique() else None
    if layout is not None:
        K, ids, tab_offers = layout
        first = ids[::K]
        if len(first) < 2 or bool((first[1:] > first[:-1]).all()):  # customers already in sorted id order
            pos = {o: j for j, o in enumerate(tab_offers[:K])}
            return table[column].to_numpy(dtype=float).reshape(-1, K)[:, [pos[o] for o in offers]]
    return table.pivot(index=ID, columns="offer", values=column).reindex(columns=offers).to_numpy(dtype=float)


def budget_for(n_customers: int, cfg: SweepConfig) -> float:
    return cfg.budget(n_customers)


def allocate_sweep(table: pd.DataFrame, cfg: SweepConfig, budget: float | None = None) -> pd.DataFrame:
    """One row per customer: the uplift allocation (or ``none``) under the budget, maximising net value."""
    offers = sorted(table["offer"].unique())
    net, cost = wide(table, "net_value", offers), wide(table, "cost", offers)
    eligible = wide(table, "uplift_low", offers) > 0 if cfg.require_confident_uplift else None
    budget = budget_for(table[ID].nunique(), cfg) if budget is None else budget
    return allocation_frame(table, offers, allocate(net, cost, budget, eligible))


def allocation_frame(table: pd.DataFrame, offers: Any, choice: np.ndarray) -> pd.DataFrame:
    """The plan ``choice`` (offer index per customer in sorted id order, NONE = no offer) as one row per
    customer with its net value, cost, uplift and context. ``offers``: the offer list (or PlanInputs)."""
    offers = list(getattr(offers, "offers", offers))
    customers = table.drop_duplicates(ID).set_index(ID).sort_index()
    net, cost = wide(table, "net_value", offers), wide(table, "cost", offers)
    rows = np.arange(len(choice))
    given = choice != NONE
    pick = np.where(given, choice, 0)
    out = pd.DataFrame(
        {
            ID: customers.index.to_numpy(),
            "offer": np.where(given, np.asarray(offers, dtype=object)[pick], "none"),
            "net_value": np.where(given, net[rows, pick], 0.0),
            "cost": np.where(given, cost[rows, pick], 0.0),
            "uplift": np.where(given, wide(table, "uplift", offers)[rows, pick], 0.0),
            "best_offer": np.asarray(offers, dtype=object)[np.argmax(net, axis=1)],
            "best_net_value": net.max(axis=1),
        }
    )
    for c in CONTEXT_COLUMNS:
        if c in customers.columns:
            out[c] = customers[c].to_numpy()
    return out


def budget_curve(table: pd.DataFrame, cfg: SweepConfig, points: int = 12) -> pd.DataFrame:
    """Expected net value of the allocation at budgets from 0 to 2x the configured one."""
    base = budget_for(table[ID].nunique(), cfg)
    offers = sorted(table["offer"].unique())
    net, cost = wide(table, "net_value", offers), wide(table, "cost", offers)
    eligible = wide(table, "uplift_low", offers) > 0 if cfg.require_confident_uplift else None
    rows = []
    for b in np.linspace(0, 2 * base, points + 1)[1:]:
        choice = allocate(net, cost, float(b), eligible)
        r = np.nonzero(choice != NONE)[0]
        rows.append(
            {
                "budget": float(b),
                "expected_net_value": float(net[r, choice[r]].sum()),
                "spent": float(cost[r, choice[r]].sum()),
                "customers_treated": len(r),
            }
        )
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame, alloc: pd.DataFrame, budget: float) -> dict[str, Any]:
    per_offer = table.groupby("offer").agg(
        mean_uplift=("uplift", "mean"),
        mean_net_value=("net_value", "mean"),
        share_positive_net=("net_value", lambda v: float((v > 0).mean())),
    )
    given = alloc[alloc["offer"] != "none"]
    return {
        "customers": int(alloc.shape[0]),
        "scenarios": sorted(table["offer"].unique().tolist()),
        "budget": round(budget, 2),
        "spent": round(float(given["cost"].sum()), 2),
        "expected_net_value": round(float(given["net_value"].sum()), 2),
        "customers_treated": len(given),
        "offers_given": {k: int(v) for k, v in given["offer"].value_counts().sort_index().items()},
        "per_offer": {k: {m: round(float(x), 6) for m, x in row.items()} for k, row in per_offer.iterrows()},
    }


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    path.write_text(json.dumps(summary, indent=2, sort_keys=True))
