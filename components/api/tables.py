"""The API's frames and results, built from the same raw material by both clients (score columns,
offer rows, explanation records), so the local and the HTTP client return equal objects.

Frames are built one block per dtype (:func:`frame_of`): the API's result frames are small and wide, and
the dict constructor's per-column work would otherwise be a visible share of a one-customer call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from churnguard.api.results import (
    OFFER_COLUMNS,
    PREDICTION_COLUMNS,
    PROBABILITY_FLOATS,
    PROBABILITY_TEXTS,
    SCENARIO_COLUMNS,
    SCORE_COLUMNS,
    Explanation,
    FeatureChange,
    Prediction,
    ScenarioAnalysis,
    ScenarioTotal,
    Scored,
)
from churnguard.core.vocabulary import ID


# --- value normalisation (one rule for both clients) --------------------------------------------------
def finite_floats(values: Any) -> np.ndarray:
    """float64 array; None, NaN and infinities -> NaN."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iub":
        arr = arr.astype(np.float64)
    elif arr.dtype != np.float64:
        arr = np.array([np.nan if v is None else v for v in arr.tolist()], dtype=np.float64).reshape(arr.shape)
    return arr if np.isfinite(arr).all() else np.where(np.isfinite(arr), arr, np.nan)


def texts(values: Any) -> np.ndarray:
    """object array of str or None (NaN -> None)."""
    if isinstance(values, np.ndarray) and values.dtype == object:
        out = values.copy()
    else:
        out = np.empty(len(values), dtype=object)
        out[:] = list(values)
    missing = pd.isna(out)  # None and NaN, in one C loop
    if missing.any():
        out[missing] = None
    return out


def plain(values: Any) -> np.ndarray:
    """Another part's column: bool, float (NaN for missing) or object, decided on the values (a numpy column
    of bools or numbers by its dtype; anything else item by item, as JSON values arrive)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return values.astype(bool) if values.dtype.kind == "b" else finite_floats(values)
    items = [v.item() if isinstance(v, np.generic) else v for v in list(values)]
    if items and all(isinstance(v, bool) for v in items):
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
def predictions_frame(scored: Scored) -> pd.DataFrame:
    """PREDICTION_COLUMNS, then the other parts' columns; one row per customer, in request order."""
    n, scores, info = len(scored.ids), scored.scores, scored.info
    out: dict[str, Any] = {ID: np.array(scored.ids, dtype=object)}
    for name in PREDICTION_COLUMNS[1:10]:
        if name in PROBABILITY_FLOATS:
            out[name] = finite_floats(scores[name]) if name in scores else np.full(n, np.nan)
        else:
            out[name] = texts(scores[name]) if name in scores else np.full(n, None, dtype=object)
    out["realtime_probability"] = info.realtime_probability
    out["imputed_features"] = _object(list(info.imputed_features))
    out["out_of_bounds"] = _object(list(info.out_of_bounds))
    out["batch_row"] = info.batch_row
    out["online_fields"] = info.online_fields
    out["request_fields"] = info.request_fields
    out["model_version"] = np.full(n, scored.model_version, dtype=object)
    out["degraded"] = np.full(n, scored.degraded, dtype=bool)
    for name, values in scores.items():
        if name not in SCORE_COLUMNS:
            out[name] = plain(values)
    return frame_of(out)


def prediction_of(scored: Scored, i: int) -> Prediction:
    """Customer ``i`` of a scoring call as a :class:`Prediction` (the values of its ``predict`` row),
    converted value by value: no array is built for one customer."""
    scores, info = scored.scores, scored.info
    value: dict[str, Any] = {}
    for name in PROBABILITY_FLOATS:
        value[name] = _float_at(scores[name], i) if name in scores else math.nan
    for name in PROBABILITY_TEXTS:
        value[name] = _text_at(scores[name], i) if name in scores else None
    other = {k: _plain_at(v, i) for k, v in scores.items() if k not in SCORE_COLUMNS}
    return Prediction(
        customer_id=str(scored.ids[i]),
        **value,
        realtime_probability=_float_at(info.realtime_probability, i),
        imputed_features=tuple(info.imputed_features[i]),
        out_of_bounds=tuple(info.out_of_bounds[i]),
        batch_row=bool(info.batch_row[i]),
        online_fields=int(info.online_fields[i]),
        request_fields=int(info.request_fields[i]),
        model_version=scored.model_version,
        degraded=scored.degraded,
        other=other,
    )


def _float_at(values: Any, i: int) -> float:
    """One value as :func:`finite_floats` converts it."""
    v = values[i]
    x = math.nan if v is None else float(v)
    return x if math.isfinite(x) else math.nan


def _text_at(values: Any, i: int) -> Any:
    """One value as :func:`texts` converts it."""
    v = values[i]
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def _plain_at(values: Any, i: int) -> Any:
    """One value as :func:`plain` converts its column, as a Python value."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return bool(values[i]) if values.dtype.kind == "b" else _float_at(values, i)
    return _json_value(plain(values[i : i + 1])[0])


def frame_of(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """``pd.DataFrame(cols)`` for 1-d numpy columns of one length, built one block per dtype the way
    pyarrow's ``to_pandas`` builds frames (``make_block``, the block API pandas keeps for it): about
    half the cost of the dict constructor for the API's small, wide result frames (benchmarks/api.py).
    Anything else takes the dict constructor."""
    try:
        return _from_blocks(cols)
    except Exception:  # another pandas' internals, or a column these blocks do not cover
        return pd.DataFrame(cols, copy=False)


PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3
_INDEXES: dict[tuple[str, ...], pd.Index] = {}  # a result's columns are one of a few layouts


def _column_index(names: tuple[str, ...]) -> pd.Index:
    """The columns' Index (immutable, so one per layout is shared by every frame of that layout)."""
    index = _INDEXES.get(names)
    if index is None:
        if len(_INDEXES) > 64:  # parts' extra columns could vary: keep the cache small
            _INDEXES.clear()
        index = _INDEXES[names] = pd.Index(names, dtype=object)
    return index


def _from_blocks(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    from pandas.core.internals.api import make_block

    names = list(cols)
    n = len(cols[names[0]]) if names else 0
    groups: dict[np.dtype, list[int]] = {}
    for j, arr in enumerate(cols.values()):
        if not isinstance(arr, np.ndarray) or arr.ndim != 1 or len(arr) != n or arr.dtype.kind not in "biufO":
            raise TypeError("not a plain 1-d column")
        groups.setdefault(arr.dtype, []).append(j)
    blocks = [
        make_block(np.vstack([cols[names[j]] for j in locs]), placement=np.asarray(locs), ndim=2)
        for locs in groups.values()
    ]
    index, columns = pd.RangeIndex(n), _column_index(tuple(names))
    if PANDAS_3:
        from pandas.api.internals import create_dataframe_from_blocks

        return create_dataframe_from_blocks(blocks, index=index, columns=columns)
    from pandas.core.internals import BlockManager

    mgr = BlockManager(tuple(blocks), [columns, index])
    return pd.DataFrame._from_mgr(mgr, axes=mgr.axes)


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
    return frame_of(out)


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
