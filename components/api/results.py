"""What the API returns: frozen dataclasses, and the fixed columns of its pandas frames.

Conventions (both clients): a float that is undefined or not finite is NaN (e.g. ``benefit_cost_ratio``
of a free offer, ``coldstart_probability`` of an established customer); text that does not apply is
None; columns a part adds that are not listed here follow the listed ones, under the part's own name.
:mod:`churnguard.api.tables` builds the frames. docs/python_api.md documents every field and column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import ID, NAMED_SCORES, RECOMMENDATION

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
    *NAMED_SCORES,
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
OFFER_COLUMNS = (ID, "rank", *(c for c in RECOMMENDATION if c not in (ID, "rank")))  # the rank up front
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
class RowInfo:
    """Per customer (one entry each, column-wise): where the features came from, what the model imputed."""

    batch_row: np.ndarray  # bool: the customer has a row in the batch table
    online_fields: np.ndarray  # int64: fields taken from the online store
    request_fields: np.ndarray  # int64: fields taken from the call
    imputed_features: Sequence[tuple[str, ...]]
    out_of_bounds: Sequence[tuple[str, ...]]
    realtime_probability: np.ndarray  # float64, NaN when the streaming job has no score


def row_info(
    batch_row: Sequence[bool],
    online_fields: Sequence[int],
    request_fields: Sequence[int],
    imputed: Sequence[tuple[str, ...]],
    out_of_bounds: Sequence[tuple[str, ...]] | None,
    realtime: Sequence[float | None] | None,
) -> RowInfo:
    n = len(imputed)
    return RowInfo(
        np.asarray(batch_row, dtype=bool),
        np.asarray(online_fields, dtype=np.int64),
        np.asarray(request_fields, dtype=np.int64),
        imputed,
        out_of_bounds if out_of_bounds is not None else [()] * n,
        np.array([np.nan if v is None else v for v in realtime], dtype=np.float64)
        if realtime is not None
        else np.full(n, np.nan),
    )


@dataclass(frozen=True)
class Scored:
    """What a client's scoring call returns before it becomes a frame or a :class:`Prediction`: the bundle's
    score columns (part name -> one value per customer), per-customer metadata, the version that answered."""

    ids: Sequence[str]
    scores: Mapping[str, Any]
    info: RowInfo
    model_version: str
    degraded: bool
    parts: tuple[str, ...]


@dataclass(frozen=True)
class Prediction:
    """One customer's prediction: the fields of a ``predict`` row (NaN / None where a part does not apply);
    ``other``: columns of parts not named here (e.g. ``offer_eligible``). A missing float is ``math.nan``
    itself, so equal predictions compare equal (NaN is never equal to a different NaN object)."""

    customer_id: str
    churn_probability: float
    base_probability: float
    coldstart_probability: float
    coldstart_source: str | None
    protection_verdict: str | None
    anomaly_score: float
    attack_type: str | None
    recommended_action: str | None
    hardened_probability: float
    realtime_probability: float
    imputed_features: tuple[str, ...]
    out_of_bounds: tuple[str, ...]
    batch_row: bool
    online_fields: int
    request_fields: int
    model_version: str
    degraded: bool
    other: Mapping[str, Any] = field(default_factory=dict)


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
