"""Great Expectations suites for the tables beside customers: events, referrals, campaign.

Each suite checks types, ranges and sets, referential integrity to the customer tables, that
nothing is dated after the observation date T, and (campaign) that each arm's share is near the
randomized design. Cross-table facts are added to a copy of the table as explicit check columns
(``user_id_is_customer``, ``days_before_observation``...), so the suite, the failure messages and
the Data Docs say in words what was checked; the raw tables themselves are never changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnguard.data.validation import ValidateConfig

INTEGER = ["int64", "int32", "Int64", "Int32"]
TEXT = ["object", "str", "string", "StringDtype", "string[python]", "string[pyarrow]"]
FLOAT = ["float64", "float32", "Float64"]
DATETIME = ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]"]


@dataclass(frozen=True)
class TableContext:
    """What the cross-table checks need: known ids and the observation date."""

    customer_ids: pd.Index  # active customers at T
    former_ids: pd.Index  # churned before T (referral graph nodes)
    observation_date: pd.Timestamp
    arms: list[str]  # the campaign's randomized arms (uniform design)
    share_tolerance: float
    # event ids that occur more than once in the whole events table (found over the id column alone,
    # so the table can be checked in batches of rows: uniqueness is not a row-wise property)
    duplicated_event_ids: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))

    @property
    def observation_ms(self) -> int:
        return int(self.observation_date.value // 1_000_000)


def _types(E, spec: dict[str, list[str]]) -> list:
    out = []
    for col, types in spec.items():
        out += [E.ExpectColumnToExist(column=col), E.ExpectColumnValuesToBeInTypeList(column=col, type_list=types)]
    return out


def _days_before(dates: pd.Series, obs: pd.Timestamp) -> np.ndarray:
    return (obs - pd.to_datetime(dates)).dt.total_seconds().to_numpy() / 86_400


def events_suite(df: pd.DataFrame, ctx: TableContext) -> tuple[pd.DataFrame, list]:
    import great_expectations as gx

    from churnguard.world.generator import EVENT_TYPES, PAGES

    E = gx.expectations
    checked = df.copy(deep=False)  # check columns are added to a shallow copy; the rows are not copied
    if "event_id" in df:
        checked["event_id_is_unique_in_table"] = ~df["event_id"].isin(ctx.duplicated_event_ids)
    if "user_id" in df:
        checked["user_id_is_customer"] = df["user_id"].isin(ctx.customer_ids)
    if "ts" in df:
        checked["ms_before_observation"] = ctx.observation_ms - df["ts"].astype("int64")
    exps = _types(
        E,
        {
            "event_id": INTEGER,
            "user_id": TEXT,
            "session_id": INTEGER,
            "event_type": TEXT,
            "ts": INTEGER,
            "page": TEXT,
            "cart_value": FLOAT,
        },
    )
    exps += [
        E.ExpectColumnValuesToBeInSet(column="event_id_is_unique_in_table", value_set=[True]),
        E.ExpectColumnValuesToNotBeNull(column="user_id"),
        E.ExpectColumnValuesToBeInSet(column="event_type", value_set=list(EVENT_TYPES)),
        E.ExpectColumnValuesToBeInSet(column="page", value_set=list(PAGES)),
        E.ExpectColumnValuesToBeBetween(column="cart_value", min_value=0),
        E.ExpectColumnValuesToBeInSet(column="user_id_is_customer", value_set=[True]),
        # strictly before T: an event at or after T would leak the future into the features
        E.ExpectColumnValuesToBeBetween(column="ms_before_observation", min_value=1),
    ]
    return checked, exps


def referrals_suite(df: pd.DataFrame, ctx: TableContext) -> tuple[pd.DataFrame, list]:
    import great_expectations as gx

    E = gx.expectations
    known = ctx.customer_ids.append(ctx.former_ids)
    checked = df.copy(deep=False)
    for col in ("referrer_id", "referee_id"):
        if col in df:
            checked[f"{col}_is_known_customer"] = df[col].isin(known)
    if {"referrer_id", "referee_id"} <= set(df.columns):
        checked["is_self_referral"] = df["referrer_id"] == df["referee_id"]
    if "referral_date" in df:
        checked["days_before_observation"] = _days_before(df["referral_date"], ctx.observation_date)
    exps = _types(E, {"referrer_id": TEXT, "referee_id": TEXT, "referral_date": DATETIME})
    exps += [
        E.ExpectColumnValuesToBeUnique(column="referee_id"),  # a customer is referred at most once
        E.ExpectColumnValuesToBeInSet(column="referrer_id_is_known_customer", value_set=[True]),
        E.ExpectColumnValuesToBeInSet(column="referee_id_is_known_customer", value_set=[True]),
        E.ExpectColumnValuesToBeInSet(column="is_self_referral", value_set=[False]),
        E.ExpectColumnValuesToBeBetween(column="days_before_observation", min_value=0),
    ]
    return checked, exps


def campaign_suite(df: pd.DataFrame, ctx: TableContext) -> tuple[pd.DataFrame, list]:
    import great_expectations as gx

    E = gx.expectations
    checked = df.copy(deep=False)
    if "customer_id" in df:
        checked["customer_id_is_active_customer"] = df["customer_id"].isin(ctx.customer_ids)
    if "assigned_date" in df:
        checked["days_before_observation"] = _days_before(df["assigned_date"], ctx.observation_date)
    if "offer" in df and len(df):
        share = df["offer"].map(df["offer"].value_counts(normalize=True))
        # each arm's share minus the design's 1/arms (randomized uniformly over the arms)
        checked["arm_share_minus_design"] = share.to_numpy(dtype=float) - 1.0 / len(ctx.arms)
    tol = float(ctx.share_tolerance)
    exps = _types(E, {"customer_id": TEXT, "offer": TEXT, "assigned_date": DATETIME})
    exps += [
        E.ExpectColumnValuesToBeUnique(column="customer_id"),
        E.ExpectColumnValuesToBeInSet(column="customer_id_is_active_customer", value_set=[True]),
        E.ExpectColumnValuesToBeInSet(column="offer", value_set=list(ctx.arms)),
        E.ExpectColumnDistinctValuesToContainSet(column="offer", value_set=list(ctx.arms)),
        E.ExpectColumnValuesToBeBetween(column="days_before_observation", min_value=0),
        E.ExpectColumnValuesToBeBetween(column="arm_share_minus_design", min_value=-tol, max_value=tol),
    ]
    return checked, exps


def duplicated_values(values: np.ndarray) -> np.ndarray:
    """The values that occur more than once (sorted)."""
    unique, counts = np.unique(values, return_counts=True)
    return unique[counts > 1]


SUITES: dict[str, Callable[[pd.DataFrame, TableContext], tuple[pd.DataFrame, list]]] = {
    "events": events_suite,
    "referrals": referrals_suite,
    "campaign": campaign_suite,
}
# Tables whose suites are row-wise (checked in batches of validate.batch_rows rows); the others hold
# table-wide expectations (arm shares, uniqueness) and are small (one row per customer at most).
BATCHED = {"events"}


def table_context(
    customers: pd.DataFrame, former: pd.DataFrame | None, observation_date: str, cfg: ValidateConfig
) -> TableContext:
    from churnguard.core.vocabulary import ARMS

    return TableContext(
        customer_ids=pd.Index(customers["customer_id"].astype(str)),
        former_ids=pd.Index(former["customer_id"].astype(str)) if former is not None else pd.Index([]),
        observation_date=pd.Timestamp(observation_date),
        arms=list(cfg.campaign.arms or ARMS),
        share_tolerance=cfg.campaign.share_tolerance,
    )
