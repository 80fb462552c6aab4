"""One request's feature rows: validate the request's features, merge batch < online < request,
list what the model will impute, refuse what config requires but nobody supplied."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from fastapi import HTTPException

from churnguard.core import columns
from churnguard.serving.holder import LoadedModel
from churnguard.serving.schemas import PredictRequest
from churnguard.serving.validation import accepted_ranges, check_value, error, unprocessable

ONLINE_SCORE = "rt_churn_probability"


@dataclass
class RequestRows:
    """One request's merged feature rows (:mod:`churnguard.core.columns`), per-row metadata, degraded flag."""

    cols: columns.Columns
    n: int
    meta: list[dict]
    degraded: bool
    records: list[Mapping[str, Any]] = field(default_factory=list)  # the same rows as dicts (cheap to pickle)

    def frame(self) -> pd.DataFrame:
        return columns.to_frame(self.cols)


def ranges_for(state: Any, model: LoadedModel) -> dict[str, tuple[float, float]]:
    """Accepted ranges of the model's features (computed once per loaded version)."""
    cached = state.ranges.get(model.uri)
    if cached is None or cached[0] is not model:
        cached = (model, accepted_ranges(model.bounds, state.config.validation.bounds_margin))
        state.ranges = {model.uri: cached}  # only the version being served is kept
    return cached[1]


def check_request(state: Any, model: LoadedModel, req: PredictRequest, allowed: frozenset[str]) -> list[list[str]]:
    """422 for unknown features, wrong kinds and (unless config flags them) out-of-range values.
    Returns, per customer, the features flagged out of bounds."""
    if len(req.customers) > state.config.max_batch:
        raise unprocessable([error(["body", "customers"], f"at most {state.config.max_batch} customers per request")])
    ranges, flag = ranges_for(state, model), state.config.validation.out_of_bounds == "flag"
    errors, flagged = [], []
    for i, c in enumerate(req.customers):
        out = []
        for name, value in c.features.items():
            loc = ["body", "customers", i, "features", name]
            if name not in allowed:
                errors.append(error(loc, f"unknown feature {name!r}: not a feature of model v{model.version}"))
                continue
            if value is None:
                continue
            problem, outside = check_value(model, ranges, loc, name, value)
            if outside and flag:
                out.append(name)
            elif problem:
                errors.append(problem)
        flagged.append(out)
    if errors:
        if any(e["type"] == "out_of_bounds" for e in errors):
            state.metrics.rejected.labels("out_of_bounds").inc()
        raise unprocessable(errors)  # the handler lists MAX_ERRORS of them and counts all
    return flagged


def imputed_and_required(state: Any, model: LoadedModel, rows: list[dict], ids: list[str]) -> list[list[str]]:
    """Per row, the model features nobody supplied (the model imputes them). 422 when config requires one."""
    features = model.feature_columns  # None or NaN (v != v): the model imputes it; inlined, it runs per value
    imputed = [[f for f in features if (v := row.get(f)) is None or v != v] for row in rows]
    required = state.config.validation.required_features
    if required:
        need = set(model.feature_columns) if "all" in required else set(required)
        errors = [
            error(
                ["body", "customers", i, "features", f],
                f"required feature {f!r} is missing for customer "
                f"{ids[i]!r}: no batch, online or request value (serving.validation.required_features)",
                "missing",
            )
            for i, names in enumerate(imputed)
            for f in names
            if f in need
        ]
        if errors:
            state.metrics.rejected.labels("missing_required").inc()
            raise unprocessable(errors)  # the handler lists MAX_ERRORS of them and counts all
    return imputed


def build_rows(state: Any, model: LoadedModel, req: PredictRequest) -> RequestRows:
    """Merge batch < online < request features per customer; validate request fields against the model."""
    allowed = model.feature_set | state.batch.names  # a few µs: both sets are built once
    flagged = check_request(state, model, req, allowed)
    online_rows, degraded = state.online.fetch([c.customer_id for c in req.customers])
    rows, meta, unknown = [], [], []
    for c, online, oob in zip(req.customers, online_rows, flagged):
        batch = state.batch.get(c.customer_id)
        row: dict[str, Any] = batch or {}
        used_online = {k: v for k, v in online.items() if k in allowed}
        row.update(used_online)
        row.update(c.features)
        if not batch and not used_online and not c.features:
            unknown.append(c.customer_id)
        row["customer_id"] = c.customer_id
        if c.referral_ids is not None:
            row["referral_ids"] = list(c.referral_ids)
        rows.append(row)
        rt = online.get(ONLINE_SCORE)
        meta.append(
            {
                "sources": {
                    "batch": batch is not None,
                    "online_fields": len(used_online),
                    "request_fields": len(c.features),
                },
                "realtime_probability": rt if isinstance(rt, float) and math.isfinite(rt) else None,
                "out_of_bounds": oob,
            }
        )
    if unknown:
        raise HTTPException(
            404,
            detail={
                "msg": "unknown customer ids: no batch row, no online features and no request features",
                "customer_ids": unknown[:50],
            },
        )
    imputed = imputed_and_required(state, model, rows, [c.customer_id for c in req.customers])
    for m, names in zip(meta, imputed):
        m["imputed_features"] = names
    if degraded:
        state.metrics.degraded.inc()
    state.metrics.count_features(meta)
    records: list[Mapping[str, Any]] = list(rows)
    return RequestRows(columns.from_records(records), len(rows), meta, degraded, records)
