"""What callers pass in: customers (ids, :class:`Customer`, a DataFrame) and their request features.

The shape rules are serving's request schema (``churnguard.serving.schemas``), checked here so both
clients refuse the same inputs with the same field names before anything is scored or sent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from churnguard.api.errors import FieldError, InvalidInput
from churnguard.core.vocabulary import ID

FeatureValue: TypeAlias = float | int | str | None
CUSTOMER_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
MAX_FEATURES, MAX_REFERRALS, MAX_NAME, MAX_TEXT = 200, 100, 64, 128
REFERRALS = "referral_ids"


@dataclass(slots=True)  # not frozen: a frozen dataclass costs 3x to build, and a call may hold thousands
class Customer:
    """One customer to score. ``features`` override the batch and online values (None: missing, the
    model imputes it); ``referral_ids``: existing customers who referred this one (cold start)."""

    customer_id: str
    features: Mapping[str, FeatureValue] = field(default_factory=dict)
    referral_ids: tuple[str, ...] | None = None


CustomersLike: TypeAlias = str | Customer | Sequence[str | Customer] | pd.DataFrame


def as_customers(customers: CustomersLike) -> list[Customer]:
    """Customers from an id, a :class:`Customer`, a list of either, or a DataFrame with a ``customer_id``
    column (every other column is a request feature; a ``referral_ids`` column holds lists)."""
    if isinstance(customers, (str, Customer)):
        out = [_one(customers, 0)]
    elif isinstance(customers, pd.DataFrame):
        out = _from_frame(customers)
    elif isinstance(customers, Sequence):
        out = [Customer(c) if type(c) is str else _one(c, i) for i, c in enumerate(customers)]
    else:
        raise InvalidInput.one("customers", f"expected ids, Customers or a DataFrame, got {type(customers).__name__}")
    if not out:
        raise InvalidInput.one("customers", "at least one customer is needed")
    ok_id = CUSTOMER_ID.fullmatch
    errors = [
        e
        for i, c in enumerate(out)
        if c.features or c.referral_ids is not None or not (isinstance(c.customer_id, str) and ok_id(c.customer_id))
        for e in shape_errors(c, f"customers[{i}]")
    ]
    if errors:
        raise InvalidInput(errors)
    return out


def _one(item: Any, i: int) -> Customer:
    if isinstance(item, Customer):
        refs = None if item.referral_ids is None else tuple(item.referral_ids)
        return Customer(item.customer_id, clean_features(item.features), refs)
    if isinstance(item, str):
        return Customer(item)
    raise InvalidInput.one(f"customers[{i}]", f"expected a customer id (str) or a Customer, got {type(item).__name__}")


def _from_frame(frame: pd.DataFrame) -> list[Customer]:
    if ID not in frame.columns:
        raise InvalidInput.one(f"customers.{ID}", f"the DataFrame needs a {ID!r} column")
    names = [str(c) for c in frame.columns if c not in (ID, REFERRALS)]
    values = {n: frame[n].tolist() for n in names}
    refs = frame[REFERRALS].tolist() if REFERRALS in frame.columns else [None] * len(frame)
    return [
        Customer(str(cid), {n: missing_as_none(values[n][i]) for n in names}, _referrals(refs[i]))
        for i, cid in enumerate(frame[ID].tolist())
    ]


def _referrals(value: Any) -> tuple[str, ...] | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return tuple(str(v) for v in value)


def missing_as_none(value: Any) -> Any:
    """NaN (and numpy scalars) as the JSON form: None for missing, Python numbers otherwise."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def shape_errors(c: Customer, where: str) -> list[FieldError]:
    """Serving's schema rules for one customer: id pattern, at most 200 features, value types."""
    errors = []
    if not isinstance(c.customer_id, str) or not CUSTOMER_ID.fullmatch(c.customer_id):
        errors.append(FieldError(f"{where}.customer_id", "1 to 64 characters of A-Z a-z 0-9 _ . : -"))
    if len(c.features) > MAX_FEATURES:
        errors.append(FieldError(f"{where}.features", f"at most {MAX_FEATURES} features per customer"))
    for name, value in c.features.items():
        loc = f"{where}.features.{name}"
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            errors.append(FieldError(loc, f"a feature name is 1 to {MAX_NAME} characters"))
        elif isinstance(value, str):
            if len(value) > MAX_TEXT:
                errors.append(FieldError(loc, f"text values are at most {MAX_TEXT} characters"))
        elif isinstance(value, bool) or not (value is None or isinstance(value, (int, float))):
            errors.append(FieldError(loc, f"a number, a string or None, not {type(value).__name__}"))
        elif value is not None and not math.isfinite(value):
            errors.append(FieldError(loc, "a finite number (None or NaN means missing)"))
    if c.referral_ids is not None:
        if len(c.referral_ids) > MAX_REFERRALS:
            errors.append(FieldError(f"{where}.referral_ids", f"at most {MAX_REFERRALS} referral ids"))
        for j, rid in enumerate(c.referral_ids):
            if not isinstance(rid, str) or not CUSTOMER_ID.fullmatch(rid):
                errors.append(FieldError(f"{where}.referral_ids[{j}]", "1 to 64 characters of A-Z a-z 0-9 _ . : -"))
    return errors


def clean_features(features: Mapping[str, Any]) -> dict[str, FeatureValue]:
    """Request features with NaN as None and numpy scalars as Python values."""
    return {str(k): missing_as_none(v) for k, v in features.items()}
