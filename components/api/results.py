"""What the API returns: pandas frames with fixed, documented columns, and frozen dataclasses.

Both clients build their results here from the same raw material (score columns and offer rows), so
the local and the HTTP client return equal objects for the same customers. Conventions:

- a float that is undefined or not finite is NaN (e.g. ``benefit_cost_ratio`` of a free offer, or
  ``coldstart_probability`` of an established customer); text that does not apply is None;
- columns a part adds that are not listed here follow the listed ones, under the part's own name.

docs/python_api.md documents every column.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import ID

PROBABILITY_FLOATS = (
    "churn_probability",
    "base_probability",
    "coldstart_probability",
    "anomaly_score",
    "hardened_probability",
)
PROBABILITY_TEXTS = ("coldstart_source", "protection_verdict", "attack_type", "recommended_action")
SCORE_COLUMNS = frozenset(PROBABILITY_FLOATS + PROBABILITY_TEXTS)  # serving's named prediction fields
PREDICTION_COLUMNS = (
    ID,
    "churn_probability",
    "base_probability",
    "coldstart_probability",
    "coldstart_source",
    "protection_verdict",
    "anomaly_score",
    "attack_type",
    "recommended_action",
    "hardened_probability",
    "realtime_probability",
    "imputed_features",
    "out_of_bounds",
    "batch_row",
    "online_fields",
    "request_fields",
    "model_version",
    "degraded",
)
PROTECTION_COLUMNS = (
    ID,
    "churn_probability",
    "protection_verdict",
    "attack_type",
    "recommended_action",
    "anomaly_score",
    "hardened_probability",
    "model_version",
)
OFFER_COLUMNS = (
    ID,
    "rank",
    "offer",
    "p_before",
    "p_after",
    "uplift",
    "uplift_low",
    "uplift_high",
    "expected_saved_value",
    "cost",
    "net_value",
    "benefit_cost_ratio",
)
SCENARIO_COLUMNS = (
    ID,
    "offer",
    "rank",
    "p_before",
    "p_after",
    "uplift",
    "uplift_low",
    "uplift_high",
    "customer_value",
    "cost",
    "expected_saved_value",
    "net_value",
    "net_value_low",
    "net_value_high",
    "confident",
)


@dataclass(frozen=True)
class RowMeta:
    """Per customer: where the features came from and what the model had to impute."""

    batch_row: bool
    online_fields: int
    request_fields: int
    imputed_features: tuple[str, ...]
    out_of_bounds: tuple[str, ...] = ()
    realtime_probability: float | None = None


@dataclass(frozen=True)
class FeatureChange:
    feature: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Explanation:
    """A counterfactual: the smallest actionable changes that bring the churn probability below the
    explainer's threshold (``valid``), found by ``backend``."""

    customer_id: str
    p_before: float
    new_probability: float
    valid: bool
    needed: bool
    backend: str
    changes: tuple[FeatureChange, ...]
    imputed_features: tuple[str, ...]
    model_version: str


@dataclass(frozen=True)
class ScenarioTotal:
    """Sums over the analysed customers. ``net_value_low``/``_high`` add up each customer's interval
    bound: a range for the total, wider than an interval of the total unless the customers' errors
    move together. ``confident_*``: customers whose uplift interval lies above zero."""

    customers: int
    cost: float
    expected_saved_value: float
    net_value: float
    net_value_low: float
    net_value_high: float
    confident_customers: int
    confident_net_value: float


@dataclass(frozen=True)
class ScenarioAnalysis:
    """One intervention scenario (an offer) for a set of customers: per customer and in total."""

    scenario: str
    model_version: str
    customers: pd.DataFrame  # SCENARIO_COLUMNS, one row per customer, in request order
    total: ScenarioTotal


@dataclass(frozen=True)
class NewCustomerPrediction:
    """Cold-start prediction for a customer not in the batch table (``coldstart_source``: ``gnn`` when the
    referral edges reached known customers, ``cluster_fallback`` otherwise)."""

    customer_id: str
    churn_probability: float
    coldstart_probability: float
    coldstart_source: str | None
    base_probability: float
    referral_ids: tuple[str, ...]
    imputed_features: tuple[str, ...]
    model_version: str


@dataclass(frozen=True)
class Dependencies:
    registry: str  # up | down | unknown | disabled (a local bundle directory)
    redis: str  # up | degraded | down | disabled
    batch_features: str  # up | down | disabled


@dataclass(frozen=True)
class Health:
    status: str  # ok | degraded | loading
    model_name: str
    alias: str | None
    version: str | None
    uri: str | None
    parts: tuple[str, ...]
    unevaluated_parts: tuple[str, ...]
    dependencies: Dependencies
    last_error: str | None = None


@dataclass(frozen=True)
class FeatureReplay:
    """Online features after replaying an event stream in-process (the streaming job's logic).

    ``features``: one row per user (index ``user_id``), columns ``churnguard.streaming.features.ONLINE_FEATURES``.
    ``applied`` + ``duplicates`` + ``late`` = events given."""

    features: pd.DataFrame
    applied: int
    duplicates: int
    late: int


# --- value normalisation (one rule for both clients) --------------------------------------------------
def finite_floats(values: Any) -> np.ndarray:
    """float64 array; None, NaN and infinities -> NaN."""
    arr = np.asarray(values)
    if arr.dtype.kind != "f" or arr.dtype != np.float64:
        arr = np.array([np.nan if v is None else v for v in arr.tolist()], dtype=np.float64).reshape(arr.shape)
    return arr if np.isfinite(arr).all() else np.where(np.isfinite(arr), arr, np.nan)


def texts(values: Any) -> np.ndarray:
    """object array of str or None (NaN -> None)."""
    out = np.empty(len(values), dtype=object)
    out[:] = [None if v is None or (isinstance(v, float) and v != v) else v for v in list(values)]
    return out


def plain(values: Any) -> np.ndarray:
    """Another part's column: bool, float (NaN for missing) or object, decided on the values."""
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    if items and all(isinstance(v, (bool, np.bool_)) for v in items):
        return np.asarray(items, dtype=bool)
    if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in items):
        return finite_floats(items)
    return texts(items)


def _number(v: Any) -> float:
    return math.nan if v is None else float(v)


def _json_value(v: Any) -> Any:
    """A value as it survives JSON: numpy scalars as Python ones, non-finite floats as None."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# --- frames ---------------------------------------------------------------------------------------------
def predictions_frame(
    ids: Sequence[str], scores: Mapping[str, Any], meta: Sequence[RowMeta], model_version: str, degraded: bool
) -> pd.DataFrame:
    """PREDICTION_COLUMNS, then the other parts' columns; one row per customer, in request order."""
    n = len(ids)
    out: dict[str, Any] = {ID: texts(ids)}
    for name in PROBABILITY_FLOATS:
        out[name] = finite_floats(scores[name]) if name in scores else np.full(n, np.nan)
    for name in PROBABILITY_TEXTS:
        out[name] = texts(scores[name]) if name in scores else np.full(n, None, dtype=object)
    ordered = {k: out[k] for k in PREDICTION_COLUMNS[:10]}
    ordered["realtime_probability"] = np.array([_number(m.realtime_probability) for m in meta], dtype=np.float64)
    ordered["imputed_features"] = _object([m.imputed_features for m in meta])
    ordered["out_of_bounds"] = _object([m.out_of_bounds for m in meta])
    ordered["batch_row"] = np.array([m.batch_row for m in meta], dtype=bool)
    ordered["online_fields"] = np.array([m.online_fields for m in meta], dtype=np.int64)
    ordered["request_fields"] = np.array([m.request_fields for m in meta], dtype=np.int64)
    ordered["model_version"] = np.full(n, model_version, dtype=object)
    ordered["degraded"] = np.full(n, degraded, dtype=bool)
    for name, values in scores.items():
        if name not in SCORE_COLUMNS:
            ordered[name] = plain(values)
    return pd.DataFrame(ordered, copy=False)


def _object(items: list[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def offers_frame(records: Iterable[Mapping[str, Any]], model_version: str) -> pd.DataFrame:
    """OFFER_COLUMNS, then the part's other columns (``customer_value``, the what-if), then ``model_version``."""
    rows = list(records)
    names = list(OFFER_COLUMNS) + [k for k in dict.fromkeys(k for r in rows for k in r) if k not in OFFER_COLUMNS]
    out: dict[str, Any] = {}
    for name in names:
        values = [r.get(name) for r in rows]
        if name == ID or name == "offer":
            out[name] = texts(values)
        elif name == "rank":
            out[name] = np.asarray(values, dtype=np.int64)
        else:
            out[name] = plain(values) if rows else np.empty(0, dtype=np.float64)
    out["model_version"] = np.full(len(rows), model_version, dtype=object)
    return pd.DataFrame(out, copy=False)


def top_offers(table: pd.DataFrame, customer_ids: Sequence[str], top_k: int) -> list[dict[str, Any]]:
    """Per customer (request order, each id once) the ``top_k`` best offers of the part's table, by rank."""
    by_customer: dict[str, list[dict[str, Any]]] = {str(c): [] for c in customer_ids}
    if len(table):
        for rec in table.sort_values([ID, "rank"]).to_dict("records"):
            offers = by_customer.setdefault(str(rec[ID]), [])
            if len(offers) < top_k:
                offers.append(rec)
    return [rec for offers in by_customer.values() for rec in offers]


def scenario_analysis(offers: pd.DataFrame, scenario: str, customer_ids: Sequence[str]) -> ScenarioAnalysis:
    """One scenario's rows of an offers frame (every offer of every customer) and their totals."""
    rows = offers[offers["offer"] == scenario]
    rows = rows.drop_duplicates(ID).set_index(ID).reindex(list(dict.fromkeys(customer_ids))).reset_index()
    value = rows["customer_value"].to_numpy(dtype=float)
    cost = rows["cost"].to_numpy(dtype=float)
    frame = rows.reindex(columns=[c for c in SCENARIO_COLUMNS if c in rows.columns]).copy()
    frame["net_value_low"] = rows["uplift_low"].to_numpy(dtype=float) * value - cost
    frame["net_value_high"] = rows["uplift_high"].to_numpy(dtype=float) * value - cost
    frame["confident"] = rows["uplift_low"].to_numpy(dtype=float) > 0
    frame = frame.reindex(columns=list(SCENARIO_COLUMNS))
    confident = frame["confident"].to_numpy(dtype=bool)
    total = ScenarioTotal(
        customers=len(frame),
        cost=float(np.nansum(cost)),
        expected_saved_value=float(np.nansum(frame["expected_saved_value"])),
        net_value=float(np.nansum(frame["net_value"])),
        net_value_low=float(np.nansum(frame["net_value_low"])),
        net_value_high=float(np.nansum(frame["net_value_high"])),
        confident_customers=int(confident.sum()),
        confident_net_value=float(np.nansum(frame["net_value"].to_numpy(dtype=float)[confident])),
    )
    version = str(offers["model_version"].iloc[0]) if len(offers) else ""
    return ScenarioAnalysis(scenario, version, frame, total)


def explanations(
    records: Sequence[Mapping[str, Any]], imputed: Mapping[str, Sequence[str]], model_version: str
) -> list[Explanation]:
    return [
        Explanation(
            customer_id=str(r[ID]),
            p_before=_number(r.get("p_before")),
            new_probability=_number(r.get("new_probability")),
            valid=bool(r.get("valid")),
            needed=bool(r.get("needed")),
            backend=str(r.get("backend")),
            changes=tuple(
                FeatureChange(str(c["feature"]), _json_value(c.get("old")), _json_value(c.get("new")))
                for c in r.get("changes") or ()
            ),
            imputed_features=tuple(imputed.get(str(r[ID]), ())),
            model_version=model_version,
        )
        for r in records
    ]
