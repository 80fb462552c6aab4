"""The model table: one row per active customer, features as of T, label, split.

The features stage writes it to ``data/features/customers.parquet`` with ``data/features/schema.json``
(which columns are numeric or categorical features), so every model reads the same definition.
The click-stream aggregates run on the engine of ``features.engine`` (:mod:`churnguard.features.engines`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from churnguard.core.config import build
from churnguard.core.vocabulary import ID, LABEL, NOT_IN_CAMPAIGN, SPLIT
from churnguard.features.clickstream import fill_inactive, finish_clickstream
from churnguard.features.engines import clickstream_aggregates
from churnguard.features.engines.settings import DuckDBSettings, SparkSettings
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


@dataclass(frozen=True)
class FeaturesConfig:
    """Params ``features``: the event window and the engine that aggregates the click-stream."""

    event_window_days: int = 30
    engine: Literal["pandas", "duckdb", "spark"] = "duckdb"
    duckdb: DuckDBSettings = field(default_factory=DuckDBSettings)
    spark: SparkSettings = field(default_factory=SparkSettings)


@dataclass
class RawTables:
    """What the feature table is built from (the stage reads them; ``events`` stays on disk for the engine)."""

    customers: pd.DataFrame  # validated customers
    events: Path | None = None  # click events Parquet, scanned by the engine; None: the source has none
    referrals: pd.DataFrame | None = None
    former_ids: pd.Series | None = None
    campaign: pd.DataFrame | None = None  # customer_id, offer

    @classmethod
    def read(cls, customers_path: Path, raw_dir: Path) -> RawTables:
        """The tables a data source has in ``raw_dir`` (absent files stay None)."""
        refs, former = raw_dir / "referrals.parquet", raw_dir / "former_customers.parquet"
        has_graph = refs.exists() and former.exists()
        campaign = raw_dir / "campaign.parquet"
        return cls(
            customers=pd.read_parquet(customers_path),
            events=raw_dir / "events.parquet" if (raw_dir / "events.parquet").exists() else None,
            referrals=pd.read_parquet(refs) if has_graph else None,
            former_ids=pd.read_parquet(former, columns=[ID])[ID] if has_graph else None,
            campaign=pd.read_parquet(campaign, columns=[ID, "offer"]) if campaign.exists() else None,
        )


def features_config(cfg: FeaturesConfig | Mapping[str, Any]) -> FeaturesConfig:
    return cfg if isinstance(cfg, FeaturesConfig) else build(FeaturesConfig, cfg, "features")


def build_feature_table(
    customers_path: Path,
    raw_dir: Path,
    data_cfg: dict[str, Any],
    feat_cfg: FeaturesConfig | Mapping[str, Any],
    observation_date: str | None,
) -> tuple[pd.DataFrame, FeatureSchema]:
    """:func:`assemble_feature_table` of the files in ``raw_dir`` (for callers that hold paths)."""
    return assemble_feature_table(RawTables.read(customers_path, raw_dir), data_cfg, feat_cfg, observation_date)


def assemble_feature_table(
    raw: RawTables,
    data_cfg: dict[str, Any],
    feat_cfg: FeaturesConfig | Mapping[str, Any],
    observation_date: str | None,
) -> tuple[pd.DataFrame, FeatureSchema]:
    """Join validated customers with clickstream and referral features; add label and split."""
    cfg = features_config(feat_cfg)
    table = _base_table(raw.customers, data_cfg)
    sources, skipped = ["customers"], {}
    if raw.events is not None and observation_date:
        table = _with_clickstream(table, raw.events, observation_date, cfg)
        sources.append("events")
    else:
        skipped["events"] = "no click events in this data source: behavioural click features skipped"
    if raw.referrals is not None and raw.former_ids is not None:
        table = table.join(referral_features(table[ID], raw.referrals, raw.former_ids).reset_index(drop=True))
        sources.append("referrals")
    else:
        skipped["referrals"] = "no referral graph in this data source: graph features skipped"
    if raw.campaign is not None:
        # The offer given at T is known at T and changes the label's odds: a legitimate feature.
        offers = raw.campaign.set_index(ID)["offer"]
        table["campaign_offer"] = offers.reindex(table[ID]).fillna(NOT_IN_CAMPAIGN).to_numpy()
        sources.append("campaign")
    else:
        skipped["campaign"] = "no retention campaign in this data source: campaign features skipped"
    table[SPLIT] = np.where(
        holdout_mask(table[ID], float(data_cfg["holdout_share"]), int(data_cfg["seed"])), "holdout", "train"
    )
    return _typed_table(table, sources, skipped)


def _base_table(customers: pd.DataFrame, data_cfg: dict[str, Any]) -> pd.DataFrame:
    pos, _neg = label_values(data_cfg)
    table = customers.copy()
    table[LABEL] = (table["churn_label"].astype(str) == pos).astype(np.int8)
    table["is_cold_start"] = table.get("tenure_months", pd.Series(np.inf, index=table.index)) < COLD_START_MONTHS
    for col in table.columns:
        if table[col].dtype == bool:
            table[col] = table[col].astype(np.int8)
    return table


def _with_clickstream(table: pd.DataFrame, events: Path, observation_date: str, cfg: FeaturesConfig) -> pd.DataFrame:
    obs_ms = int(pd.Timestamp(observation_date).value // 1_000_000)
    window = int(cfg.event_window_days)
    aggregates = clickstream_aggregates(events, obs_ms, window, cfg)
    clicks = finish_clickstream(aggregates, obs_ms).reindex(table[ID]).reset_index(drop=True)
    return table.join(fill_inactive(clicks, ~table["is_cold_start"], window))


def _typed_table(
    table: pd.DataFrame, sources: list[str], skipped: dict[str, str]
) -> tuple[pd.DataFrame, FeatureSchema]:
    """Categorical columns as text ("missing" for gaps); the schema with the training rows' bounds."""
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
