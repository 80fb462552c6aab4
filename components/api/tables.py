"""The API's frames and results, built from the same raw material by both clients (score columns,
offer rows, explanation records), so the local and the HTTP client return equal objects.

Frames are built one block per dtype (:func:`frame_of`): the API's result frames are small and wide, and
the dict constructor's per-column work would otherwise be a visible share of a one-customer call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    _none_for_nan(out)
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
_FLOATS = (*PROBABILITY_FLOATS, "realtime_probability")
_TEXTS = (ID, *PROBABILITY_TEXTS, "imputed_features", "out_of_bounds", "model_version")
_POS = {name: j for j, name in enumerate(PREDICTION_COLUMNS)}
_FIXED = (  # the predictions frame's fixed columns, one group per dtype (each starts its block: row 0)
    (np.dtype(np.float64), [_POS[c] for c in _FLOATS]),
    (np.dtype(object), [_POS[c] for c in _TEXTS]),
    (np.dtype(bool), [_POS["batch_row"], _POS["degraded"]]),
    (np.dtype(np.int64), [_POS["online_fields"], _POS["request_fields"]]),
)


def predictions_frame(scored: Scored) -> pd.DataFrame:
    """PREDICTION_COLUMNS, then the other parts' columns; one row per customer, in request order.
    Written straight from the scores into the frame's blocks (all float columns in one array, all text in
    another ...), laid out once per set of extra columns (:class:`BlockLayout`)."""
    n, scores, info = len(scored.ids), scored.scores, scored.info
    extra = {name: plain(values) for name, values in scores.items() if name not in SCORE_COLUMNS}
    layout = _prediction_layout(tuple((name, values.dtype) for name, values in extra.items()))
    blocks = layout.empty(n)
    floats, text, flags, counts = blocks[:4]
    for r, name in enumerate(PROBABILITY_FLOATS):
        v = scores.get(name)
        floats[r] = (
            np.nan if v is None else (v if isinstance(v, np.ndarray) and v.dtype == np.float64 else finite_floats(v))
        )
    floats[len(PROBABILITY_FLOATS)] = info.realtime_probability
    fixed = floats[: len(_FLOATS)]
    bad = ~np.isfinite(fixed)
    if bad.any():
        fixed[bad] = np.nan
    text[0] = _object(list(scored.ids))
    for r, name in enumerate(PROBABILITY_TEXTS, start=1):
        v = scores.get(name)
        text[r] = None if v is None else (v if isinstance(v, np.ndarray) and v.dtype == object else _object(list(v)))
    _none_for_nan(text[1 : 1 + len(PROBABILITY_TEXTS)])
    r = len(_TEXTS) - 3
    text[r], text[r + 1], text[r + 2] = (
        _object(list(info.imputed_features)),
        _object(list(info.out_of_bounds)),
        scored.model_version,
    )
    flags[0], flags[1] = info.batch_row, scored.degraded
    counts[0], counts[1] = info.online_fields, info.request_fields
    for (b, r), values in zip(layout.at[len(_FIXED) :], extra.values()):
        blocks[b][r] = values
    return layout.frame(blocks, n)


def _none_for_nan(text: np.ndarray) -> None:
    """None where ``text`` (object) holds a missing value (NaN -> None), in place."""
    if text.size <= 64 and all(v is None or type(v) is str for v in text.flat):  # the usual small answer
        return
    missing = pd.isna(text)  # None and NaN, in one C loop
    if missing.any():
        text[missing] = None


_LAYOUTS: dict[tuple, BlockLayout] = {}  # a result's columns are one of a few layouts


def _prediction_layout(extra: tuple[tuple[str, np.dtype], ...]) -> BlockLayout:
    def build() -> BlockLayout:
        names = (*PREDICTION_COLUMNS, *(name for name, _ in extra))
        groups = [*_FIXED, *((dtype, [len(PREDICTION_COLUMNS) + k]) for k, (_, dtype) in enumerate(extra))]
        return BlockLayout(names, groups)

    return _layout(("predictions", extra), build)


def _layout(key: tuple, build: Callable[[], BlockLayout]) -> BlockLayout:
    """The cached layout of ``key``, built on first use."""
    layout = _LAYOUTS.get(key)
    if layout is None:
        if len(_LAYOUTS) > 64:  # parts' extra columns could vary: keep the cache small
            _LAYOUTS.clear()
        layout = _LAYOUTS[key] = build()
    return layout


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
    """``pd.DataFrame(cols)`` for 1-d numpy columns of one length, one block per dtype (:class:`BlockLayout`)."""
    arrays = list(cols.values())
    n = len(arrays[0]) if arrays else 0
    if not all(isinstance(arr, np.ndarray) and arr.shape == (n,) for arr in arrays):
        return pd.DataFrame(cols, copy=False)
    names, dtypes = tuple(cols), tuple(arr.dtype for arr in arrays)
    layout = _layout(("columns", names, dtypes), lambda: BlockLayout(names, [(d, [j]) for j, d in enumerate(dtypes)]))
    blocks = layout.empty(n)
    for (b, r), arr in zip(layout.at, arrays):
        blocks[b][r] = arr
    return layout.frame(blocks, n)


class BlockLayout:
    """Where the columns of one frame layout live in its blocks: one 2-d array per dtype, as the dict
    constructor consolidates them, built the way pyarrow's ``to_pandas`` builds frames (blocks, the API
    pandas keeps for it): a fraction of the dict constructor's cost for the API's small, wide result frames
    (benchmarks/api.py). Computed once per layout: the column Index and each block's placement.

    ``groups``: (dtype, column positions) in order; ``at[g]`` is group ``g``'s (block, first row)."""

    def __init__(self, names: Sequence[str], groups: Sequence[tuple[np.dtype, Sequence[int]]]):
        merged: dict[np.dtype, list[int]] = {}
        self.at: list[tuple[int, int]] = []
        for dtype, locs in groups:
            rows = merged.setdefault(np.dtype(dtype), [])
            self.at.append((list(merged).index(np.dtype(dtype)), len(rows)))
            rows.extend(locs)
        self.names, self.dtypes = list(names), list(merged)
        self.sizes = [len(locs) for locs in merged.values()]
        self.columns = pd.Index(self.names, dtype=object)
        self.slots = {j: (b, r) for b, locs in enumerate(merged.values()) for r, j in enumerate(locs)}
        self.placements: list[Any] | None = None
        if all(dtype.kind in "biufO" for dtype in self.dtypes):
            try:
                from pandas._libs.internals import BlockPlacement

                self.placements = [BlockPlacement(np.asarray(locs, dtype=np.intp)) for locs in merged.values()]
            except Exception:  # another pandas' internals: the public constructor
                self.placements = None

    def empty(self, n: int) -> list[np.ndarray]:
        """The blocks' arrays (``[rows, n]``), to be filled."""
        return [np.empty((k, n), dtype=dtype) for k, dtype in zip(self.sizes, self.dtypes)]

    def frame(self, blocks: list[np.ndarray], n: int) -> pd.DataFrame:
        """The frame of the filled blocks (same dtypes, same consolidation as ``pd.DataFrame(dict)``)."""
        if self.placements is not None:
            try:
                return _from_blocks(blocks, self.placements, self.columns, n)
            except Exception:  # another pandas' internals: the public constructor below
                self.placements = None
        cols = {name: blocks[self.slots[j][0]][self.slots[j][1]] for j, name in enumerate(self.names)}
        return pd.DataFrame(cols, copy=False)


PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3


def _from_blocks(blocks: list[np.ndarray], placements: list[Any], columns: pd.Index, n: int) -> pd.DataFrame:
    # views of the cached indexes: a caller renaming one (df.columns.name = ...) renames only its own
    index, columns = _range_index(n).view(), columns.view()
    if PANDAS_3:
        from pandas.api.internals import create_dataframe_from_blocks
        from pandas.core.internals.api import make_block

        made = [make_block(v, placement=p, ndim=2) for v, p in zip(blocks, placements)]
        return create_dataframe_from_blocks(made, index=index, columns=columns)
    from pandas.core.internals import BlockManager
    from pandas.core.internals.blocks import new_block

    own = tuple(new_block(v, placement=p, ndim=2) for v, p in zip(blocks, placements))
    mgr = BlockManager(own, [columns, index], verify_integrity=False)  # built consistent above
    return pd.DataFrame._from_mgr(mgr, axes=mgr.axes)


_RANGES: dict[int, pd.RangeIndex] = {}


def _range_index(n: int) -> pd.RangeIndex:
    """RangeIndex(n), one per small n (callers get views of it)."""
    if n > 1024:
        return pd.RangeIndex(n)
    index = _RANGES.get(n)
    if index is None:
        index = _RANGES[n] = pd.RangeIndex(n)
    return index


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
