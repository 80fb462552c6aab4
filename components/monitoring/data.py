"""Reading a monitored snapshot: a folder ``month_MM/raw`` in the raw layout of the world (or of an
export of production data), turned into the model table with the project's own feature code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import ID
from churnguard.features.table import build_feature_table


def month_dir(root: Path, month: int) -> Path:
    return Path(root) / f"month_{month:02d}"


def months(root: Path) -> list[int]:
    return sorted(int(p.name.split("_")[1]) for p in Path(root).glob("month_*") if (p / "raw").is_dir())


def observation_date(root: Path, month: int) -> str:
    index = json.loads((Path(root) / "timeline.json").read_text())
    return next(m["observation_date"] for m in index["months"] if m["month"] == month)


def features(root: Path, month: int, data_cfg: dict[str, Any], feat_cfg: dict[str, Any]) -> pd.DataFrame:
    raw = month_dir(root, month) / "raw"
    table, _schema = build_feature_table(
        raw / "customers.parquet", raw, {**data_cfg, "source": "synthetic"}, feat_cfg, observation_date(root, month)
    )
    return table


def churned_next_month(root: Path, month: int, ids: pd.Series) -> np.ndarray | None:
    """Which customers of snapshot ``month`` churned in the month after it (None: not observed yet):
    a churn event is observable when it happens (the next snapshot's former customers)."""
    nxt = month_dir(root, month + 1) / "raw" / "former_customers.parquet"
    if not nxt.exists():
        return None
    gone = set(pd.read_parquet(nxt, columns=[ID])[ID])
    return ids.isin(gone).to_numpy()
