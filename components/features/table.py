"""The model table: one row per active customer, features as of T, label, split.

Writes ``data/features/customers.parquet`` and ``data/features/schema.json`` (which columns
are numeric or categorical features), so every model reads the same definition.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import ID, LABEL, NOT_IN_CAMPAIGN, SPLIT
from churnguard.features.clickstream import aggregate_clickstream, fill_inactive
from churnguard.features.graph import referral_features

NON_FEATURES = {ID, LABEL, SPLIT, "churn_label", "signup_date", "is_cold_start"}
COLD_START_MONTHS = 14 / 30.44  # matches the world's default; CSV rows use tenure too


@dataclass
class FeatureSchema:
    numeric: list[str]
    categorical: list[str]
    sources: list[str]  # which raw tables contributed (customers, events, referrals)
    skipped: dict[str, str]  # table -> why it was not used
    # numeric feature -> [min, max] over the training rows: serving rejects (or flags) request
    # values outside the range the model was trained on. None in schemas written before bounds.
    bounds: dict[str, list[float]] | None = None

    @property
    def columns(self) -> list[str]:
        return self.categorical + self.numeric

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls, path: Path) -> FeatureSchema:
        return cls(**json.loads(path.read_text()))


def holdout_mask(ids: pd.Series, share: float, seed: int) -> np.ndarray:
    """Stable holdout assignment by hashing the id (independent of row order)."""
    salt = str(seed).encode()
    buckets = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(salt + i.encode(), digest_size=4).digest(), "little") % 10_000
            for i in ids.astype(str)
        ),
        dtype=np.int64,
        count=len(ids),
    )
    return buckets < int(share * 10_000)


def label_values(data_cfg: dict[str, Any]) -> tuple[str, str]:
    """(positive, negative) labels of the configured source."""
    if data_cfg["source"] == "csv":
        return str(data_cfg["csv"]["positive_label"]), str(data_cfg["csv"]["negative_label"])
    return "Yes", "No"


def build_feature_table(
    customers_path: Path,
    raw_dir: Path,
    data_cfg: dict[str, Any],
    feat_cfg: dict[str, Any],
    observation_date: str | None,
) -> tuple[pd.DataFrame, FeatureSchema]:
    """Join validated customers with clickstream and referral features; add label and split."""
    customers = pd.read_parquet(customers_path)
    pos, _neg = label_values(data_cfg)
    table = customers.copy()
    table[LABEL] = (table["churn_label"].astype(str) == pos).astype(np.int8)
    table["is_cold_start"] = table.get("tenure_months", pd.Series(np.inf, index=table.index)) < COLD_START_MONTHS
    for col in table.columns:
        if table[col].dtype == bool:
            table[col] = table[col].astype(np.int8)
    sources, skipped = ["customers"], {}

    events_path = raw_dir / "events.parquet"
    if events_path.exists() and observation_date:
        obs_ms = int(pd.Timestamp(observation_date).value // 1_000_000)
        events = pd.read_parquet(events_path)
        window = int(feat_cfg["event_window_days"])
        clicks = aggregate_clickstream(events, obs_ms, window).reindex(table[ID]).reset_index(drop=True)
        table = table.join(fill_inactive(clicks, ~table["is_cold_start"], window))
        sources.append("events")
    else:
        skipped["events"] = "no click events in this data source: behavioural click features skipped"

    refs_path, former_path = raw_dir / "referrals.parquet", raw_dir / "former_customers.parquet"
    if refs_path.exists() and former_path.exists():
        refs = pd.read_parquet(refs_path)
        former = pd.read_parquet(former_path, columns=[ID])[ID]
        table = table.join(referral_features(table[ID], refs, former).reset_index(drop=True))
        sources.append("referrals")
    else:
        skipped["referrals"] = "no referral graph in this data source: graph features skipped"

    campaign_path = raw_dir / "campaign.parquet"
    if campaign_path.exists():
        # The offer given at T is known at T and changes the label's odds: a legitimate feature.
        offers = pd.read_parquet(campaign_path, columns=[ID, "offer"]).set_index(ID)["offer"]
        table["campaign_offer"] = offers.reindex(table[ID]).fillna(NOT_IN_CAMPAIGN).to_numpy()
        sources.append("campaign")
    else:
        skipped["campaign"] = "no retention campaign in this data source: campaign features skipped"

    table[SPLIT] = np.where(
        holdout_mask(table[ID], float(data_cfg["holdout_share"]), int(data_cfg["seed"])), "holdout", "train"
    )
    features = [c for c in table.columns if c not in NON_FEATURES]
    categorical = [c for c in features if table[c].dtype == object or str(table[c].dtype) == "category"]
    numeric = [c for c in features if c not in categorical and pd.api.types.is_numeric_dtype(table[c])]
    for c in categorical:
        table[c] = table[c].astype("string").fillna("missing").astype(object)
    schema = FeatureSchema(
        numeric=numeric,
        categorical=categorical,
        sources=sources,
        skipped=skipped,
        bounds=numeric_bounds(table[table[SPLIT] == "train"], numeric),
    )
    return table, schema


def numeric_bounds(train: pd.DataFrame, numeric: list[str]) -> dict[str, list[float]]:
    """[min, max] of each numeric feature over the finite training values (features without any: left out)."""
    out: dict[str, list[float]] = {}
    for c in numeric:
        values = pd.to_numeric(train[c], errors="coerce").to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if len(values):
            out[c] = [float(values.min()), float(values.max())]
    return out
