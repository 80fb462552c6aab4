"""Demographic clustering for cold-start transfer.

Only attributes known at sign-up are used (a new customer has nothing else). k is chosen in
``cluster.k_range`` by the mean silhouette coefficient on a fixed random sample (the stated
criterion); each cluster gets a churn prior (train-split established customers, shrunk
towards the overall rate) and a profile. ``ClusterModel.assign`` places an unseen customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churnguard.coldstart.config import ClusterConfig
from churnguard.core.columns import Columns, as_columns, numeric_matrix, text
from churnguard.core.numeric import logit
from churnguard.models.config import typed

# Known at sign-up; a Telco-style CSV may carry only some of them (the rest are skipped).
DEMOGRAPHIC_CATEGORICAL = ["income_band", "region", "signup_channel", "plan", "contract", "payment_method"]
DEMOGRAPHIC_NUMERIC = ["age", "paperless_billing", "monthly_charges"]


def demographic_columns(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(categorical, numeric) demographic columns present in a table.

    A CSV may hold a "numeric" candidate as text (e.g. paperless_billing Yes/No): it is then
    treated as categorical rather than coerced to missing values.
    """
    cols = set(table.columns)
    numeric = [c for c in DEMOGRAPHIC_NUMERIC if c in cols and pd.api.types.is_numeric_dtype(table[c])]
    text = [c for c in DEMOGRAPHIC_NUMERIC if c in cols and c not in numeric]
    return [c for c in DEMOGRAPHIC_CATEGORICAL if c in cols] + text, numeric


def demographic_frame(frame: pd.DataFrame, categorical: list[str], numeric: list[str]) -> pd.DataFrame:
    """The demographic columns in training order; absent ones become missing."""
    out = frame.reindex(columns=categorical + numeric)
    for c in categorical:
        out[c] = out[c].astype(object).where(out[c].notna(), "missing").astype(str)
    for c in numeric:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    return out


def make_encoder(categorical: list[str], numeric: list[str]) -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
            ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
        ]
    )


class FastEncoder:
    """The fitted encoder's transform in plain numpy (same numbers, no per-call sklearn/pandas
    validation): scoring one new customer must take milliseconds."""

    def __init__(self, encoder: ColumnTransformer, categorical: list[str], numeric: list[str]):
        self.categorical, self.numeric = categorical, numeric
        self.maps, offset = [], 0
        if categorical:
            for cats in encoder.named_transformers_["cat"].categories_:
                self.maps.append((offset, {str(c): i for i, c in enumerate(cats)}))
                offset += len(cats)
        self.width = offset + len(numeric)
        if numeric:
            num = encoder.named_transformers_["num"]
            self.median = num.named_steps["impute"].statistics_.astype(float)
            self.mean = num.named_steps["scale"].mean_.astype(float)
            self.scale = num.named_steps["scale"].scale_.astype(float)

    def transform(self, data: pd.DataFrame | Columns) -> np.ndarray:
        cols, n = as_columns(data)
        out = np.zeros((n, self.width), dtype=np.float32)
        rows = np.arange(n)
        for col, (offset, mapping) in zip(self.categorical, self.maps):
            idx = np.fromiter((mapping.get(v, -1) for v in text(cols, col, n).tolist()), dtype=np.int64, count=n)
            ok = idx >= 0
            out[rows[ok], offset + idx[ok]] = 1.0
        if self.numeric:
            num = numeric_matrix(cols, self.numeric, n)
            num = np.where(np.isnan(num), self.median, num)
            out[:, self.width - len(self.numeric) :] = (num - self.mean) / self.scale
        return out


@dataclass
class ClusterModel:
    """Fitted demographic clustering with per-cluster churn priors and profiles."""

    encoder: ColumnTransformer
    kmeans: KMeans
    categorical: list[str]
    numeric: list[str]
    priors: np.ndarray  # churn prior per cluster
    global_rate: float
    profiles: list[dict[str, Any]] = field(default_factory=list)
    selection: dict[str, float] = field(default_factory=dict)  # k -> silhouette

    @property
    def k(self) -> int:
        return int(self.kmeans.n_clusters)

    def encode(self, frame: pd.DataFrame | Columns) -> np.ndarray:
        fast = self.__dict__.get("_fast")
        if fast is None:
            fast = self.__dict__["_fast"] = FastEncoder(self.encoder, self.categorical, self.numeric)
        return fast.transform(frame)

    def nearest(self, encoded: np.ndarray) -> np.ndarray:
        """k-means assignment (nearest centre) of encoded rows."""
        centres = self.kmeans.cluster_centers_
        d = (centres**2).sum(1)[None, :] - 2.0 * encoded.astype(np.float64) @ centres.T
        return d.argmin(1).astype(np.int64)

    def assign(self, frame: pd.DataFrame | dict[str, Any]) -> np.ndarray:
        """Cluster id of each (possibly unseen) customer: one call, no refit."""
        if isinstance(frame, dict):
            frame = pd.DataFrame([frame])
        return self.nearest(self.encode(frame))

    def prior(self, frame: pd.DataFrame, clusters: np.ndarray | None = None) -> np.ndarray:
        """Churn prior of each customer's cluster (the demographic transfer score)."""
        clusters = self.assign(frame) if clusters is None else clusters
        return self.priors[clusters]

    def one_hot(self, clusters: np.ndarray) -> np.ndarray:
        out = np.zeros((len(clusters), self.k), dtype=np.float32)
        out[np.arange(len(clusters)), clusters] = 1.0
        return out

    def prior_logit(self, clusters: np.ndarray) -> np.ndarray:
        return logit(self.priors[clusters], eps=1e-4)


def fit_clusters(train: pd.DataFrame, y: np.ndarray, cfg: ClusterConfig | Mapping[str, Any], seed: int) -> ClusterModel:
    """Fit the encoder and k-means for each k in ``cfg.k_range``; keep the best silhouette.

    ``train`` are the rows that may inform the priors (train split, established customers),
    ``y`` their labels. Clustering itself is unsupervised.
    """
    conf = typed(ClusterConfig, cfg, "cluster")
    categorical, numeric = demographic_columns(train)
    if not categorical and not numeric:
        raise ValueError("no demographic columns in the feature table: cannot cluster")
    encoder = make_encoder(categorical, numeric)
    X = encoder.fit_transform(demographic_frame(train, categorical, numeric)).astype(np.float32)
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(X), size=min(len(X), conf.silhouette_sample), replace=False)
    fit_rows = rng.choice(len(X), size=min(len(X), conf.fit_sample), replace=False)
    k_lo, k_hi = conf.k_range
    selection: dict[str, float] = {}
    best: tuple[float, KMeans] | None = None
    for k in range(k_lo, k_hi + 1):
        if k >= len(sample):
            break
        km = KMeans(n_clusters=k, n_init=conf.n_init, random_state=seed).fit(X[fit_rows])
        score = float(silhouette_score(X[sample], km.predict(X[sample]), random_state=seed))
        selection[str(k)] = score
        if best is None or score > best[0]:
            best = (score, km)
    assert best is not None, "cluster.k_range is empty"
    km = best[1]
    labels = km.predict(X)
    y = np.asarray(y, dtype=float)
    global_rate = float(y.mean())
    m = conf.prior_strength
    counts = np.bincount(labels, minlength=km.n_clusters)
    positives = np.bincount(labels, weights=y, minlength=km.n_clusters)
    priors = (positives + m * global_rate) / (counts + m)
    profiles = []
    frame = demographic_frame(train, categorical, numeric).assign(_c=labels)
    for c in range(km.n_clusters):
        part = frame[frame["_c"] == c]
        prof: dict[str, Any] = {
            "cluster": c,
            "size": int(counts[c]),
            "churn_prior": float(priors[c]),
            "observed_churn_rate": float(positives[c] / counts[c]) if counts[c] else None,
        }
        for col in numeric:
            prof[f"mean_{col}"] = float(part[col].mean()) if len(part) else None
        for col in categorical:
            top = part[col].value_counts(normalize=True).head(1)
            prof[f"top_{col}"] = {str(top.index[0]): round(float(top.iloc[0]), 3)} if len(top) else None
        profiles.append(prof)
    return ClusterModel(encoder, km, categorical, numeric, priors, global_rate, profiles, selection)
