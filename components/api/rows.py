"""The in-process client's feature rows: batch < online < request, merged as serving merges them.

Serving's rule (docs/serving.md, "Features"): the customer's row of the batch feature table, then the
online store's fields the model knows, then the request's features; later wins, field by field.
The batch table is held as one numpy array per column plus an id index, so a call gathers its
customers' rows with numpy takes instead of building a dict or a DataFrame per customer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnguard.api.errors import FieldError, InvalidInput, UnknownCustomers
from churnguard.api.inputs import REFERRALS, Customer
from churnguard.api.model import LoadedModel
from churnguard.api.results import RowInfo, row_info
from churnguard.core.columns import Columns
from churnguard.core.vocabulary import ID, LABEL, SPLIT

DROP = frozenset({LABEL, SPLIT, "churn_label", "signup_date"})  # never features (serving drops them too)
EXTRA_FEATURES = ("is_cold_start",)  # not a model column; the cold-start part reads it
ONLINE_SCORE = "rt_churn_probability"


class BatchTable:
    """The batch feature table: one array per column (an all-missing row appended), rows by customer id."""

    def __init__(self, table: pd.DataFrame | None = None, source: str | None = None, error: str | None = None):
        self.source, self.error = source, error
        self.columns: Columns = {}
        self.row_of: dict[str, int] = {}
        self.missing_row = 0
        if table is not None:
            self._index(table)
        self.names = frozenset(self.columns) | frozenset(EXTRA_FEATURES)

    def _index(self, table: pd.DataFrame) -> None:
        if ID not in table.columns:
            raise InvalidInput.one(f"batch_features.{ID}", f"the batch feature table needs a {ID!r} column")
        self.row_of = {cid: i for i, cid in enumerate(table[ID].astype(str).tolist())}
        self.missing_row = len(table)
        for name in table.columns:
            if name == ID or name in DROP:
                continue
            col = table[name]
            if col.dtype == np.float64:
                self.columns[str(name)] = np.append(col.to_numpy(), np.nan)
            else:
                self.columns[str(name)] = np.append(col.astype(object).to_numpy(), np.array([None], dtype=object))

    @classmethod
    def read(cls, path: Path, required: bool) -> BatchTable:
        """The table at ``path``; a missing default table means no batch features (reported by health)."""
        if not path.exists() and not required:
            return cls(source=str(path), error=None)
        return cls(pd.read_parquet(path), source=str(path))

    @property
    def status(self) -> str:
        return "up" if self.row_of else ("down" if self.error else "disabled")

    def take(self, ids: Sequence[str]) -> tuple[Columns, np.ndarray]:
        """(the customers' rows, their row numbers: ``missing_row`` for an id without a row)."""
        get, missing = self.row_of.get, self.missing_row
        rows = np.fromiter((get(i, missing) for i in ids), dtype=np.int64, count=len(ids))
        return {name: arr[rows] for name, arr in self.columns.items()}, rows


class OnlineStore:
    """The streaming job's Redis hashes (``churnguard.core.online_store``); a failure degrades, never raises."""

    def __init__(self, url: str, prefix: str):
        import redis

        self.url, self.prefix = url, prefix
        self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.last_error: str | None = None

    def fetch(self, ids: Sequence[str]) -> tuple[list[dict[str, Any]], bool]:
        from churnguard.core.online_store import read_online

        try:
            rows = [read_online(self.client, i, self.prefix) for i in ids]
        except Exception as exc:  # connection refused, timeout: answer from batch + request features
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            return [{} for _ in ids], True
        self.last_error = None
        return rows, False

    def status(self) -> str:
        try:
            return "up" if self.client.ping() else "down"
        except Exception as exc:  # any failure means "not now"
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            return "down"


@dataclass
class Rows:
    cols: Columns
    n: int
    info: RowInfo
    degraded: bool

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.cols)


def check_features(model: LoadedModel, allowed: frozenset[str], customers: Sequence[Customer], ranges, flag: bool):
    """Unknown features, wrong kinds and values outside ``ranges`` (flagged instead when ``flag``)."""
    errors, flagged = [], []
    for i, c in enumerate(customers):
        out = []
        for name, value in c.features.items():
            loc = f"customers[{i}].features.{name}"
            if name not in allowed:
                errors.append(FieldError(loc, f"unknown feature {name!r}: not a feature of model v{model.version}"))
            elif value is None:
                continue
            elif name in model.categorical:
                if not isinstance(value, str):
                    errors.append(FieldError(loc, f"feature {name!r} is categorical: send a string"))
            elif isinstance(value, str):
                errors.append(FieldError(loc, f"feature {name!r} is numeric: send a number"))
            elif name in ranges and not ranges[name][0] <= value <= ranges[name][1]:
                if flag:
                    out.append(name)
                else:
                    low, high = ranges[name]
                    errors.append(FieldError(loc, f"{value:g} is outside the accepted range [{low:g}, {high:g}]"))
        flagged.append(tuple(out))
    if errors:
        raise InvalidInput(errors)
    return flagged


class RowBuilder:
    """Builds a call's feature rows for one model, batch table and online store (what is fixed per
    client is computed once: the accepted field names, the batch rows' imputed features)."""

    def __init__(
        self,
        model: LoadedModel,
        batch: BatchTable,
        online: OnlineStore | None,
        ranges: dict[str, tuple[float, float]],
        flag: bool,
    ):
        self.model, self.batch, self.online, self.ranges, self.flag = model, batch, online, ranges, flag
        self.allowed = model.feature_set | batch.names
        self._batch_imputed: dict[int, tuple[str, ...]] = {}  # batch row -> model features it lacks

    def build(self, customers: Sequence[Customer]) -> Rows:
        """The customers' merged rows (:mod:`churnguard.core.columns`) and per-row metadata."""
        requested = any(c.features for c in customers)
        flagged = check_features(self.model, self.allowed, customers, self.ranges, self.flag) if requested else None
        ids = [c.customer_id for c in customers]
        n = len(ids)
        cols, rows = self.batch.take(ids)
        found = rows != self.batch.missing_row
        live, degraded = self.online.fetch(ids) if self.online is not None else (None, False)
        used = [{k: v for k, v in o.items() if k in self.allowed} for o in live] if live is not None else None
        merged = requested or (used is not None and any(used))
        if merged or any(c.referral_ids is not None for c in customers):  # an id-only call keeps the batch rows
            _merge(cols, customers, used, n)
        if not found.all():
            unknown = [
                ids[i] for i in range(n) if not found[i] and not (used and used[i]) and not customers[i].features
            ]
            if unknown:
                raise UnknownCustomers(unknown)
        cols[ID] = np.array(ids, dtype=object)
        imputed = imputed_features(cols, self.model.feature_columns, n) if merged else self._imputed_of(rows, cols)
        info = row_info(
            found,
            [len(u) for u in used] if used is not None else [0] * n,
            [len(c.features) for c in customers] if requested else [0] * n,
            imputed,
            flagged,
            [_finite(o.get(ONLINE_SCORE)) for o in live] if live is not None else None,
        )
        return Rows(cols, n, info, degraded)

    def _imputed_of(self, rows: np.ndarray, cols: Columns) -> list[tuple[str, ...]]:
        """Imputed features of unmodified batch rows, computed once per row."""
        cache = self._batch_imputed
        todo = [i for i, r in enumerate(rows.tolist()) if r not in cache]
        if todo:
            sel = np.asarray(todo)
            fresh = imputed_features({k: v[sel] for k, v in cols.items()}, self.model.feature_columns, len(todo))
            for i, names in zip(todo, fresh):
                cache[int(rows[i])] = names
        return [cache[r] for r in rows.tolist()]


def _merge(cols: Columns, customers: Sequence[Customer], used: list[dict[str, Any]] | None, n: int) -> None:
    """Online fields, then the request's features and referral ids, over the batch rows (later wins)."""
    for i, c in enumerate(customers):
        for name, value in (*(used[i].items() if used is not None else ()), *c.features.items()):
            _set(cols, name, i, n, value)
        if c.referral_ids is not None:
            _set(cols, REFERRALS, i, n, list(c.referral_ids))


def _set(cols: Columns, name: str, i: int, n: int, value: Any) -> None:
    """Row ``i`` of column ``name`` := value (a float column stays float for numbers and None)."""
    arr = cols.get(name)
    if arr is None:
        arr = cols[name] = np.full(n, None, dtype=object)
    elif arr.dtype == np.float64:
        if value is None:
            value = np.nan
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            arr = cols[name] = arr.astype(object)
    arr[i] = value


def imputed_features(cols: Columns, features: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """Per row, the model features with no value (None or NaN): the model imputes them."""
    missing = []
    for f in features:
        arr = cols.get(f)
        if arr is None:
            missing.append((f, np.ones(n, dtype=bool)))
        elif arr.dtype == np.float64:
            missing.append((f, np.isnan(arr)))
        else:
            missing.append((f, np.fromiter((v is None or v != v for v in arr.tolist()), dtype=bool, count=n)))
    return [tuple(f for f, m in missing if m[i]) for i in range(n)]


def _finite(v: Any) -> float | None:
    return v if isinstance(v, float) and math.isfinite(v) else None
