"""Columns: the pandas-free row batch that bundle parts score.

A ``Columns`` is a plain ``dict`` of column name -> 1-d numpy array, all of one length ``n``.
Serving and streaming score one customer or a handful at a time; building and slicing a
``DataFrame`` for that costs more (about 1 ms per one-row frame, tens of microseconds per column
access) than the models themselves. Parts therefore score ``Columns``; ``ModelBundle.predict``
converts a DataFrame once at the door (:func:`from_frame`) and back once at the end.
Absent columns are allowed everywhere: they read as missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

Columns = dict[str, np.ndarray]


def from_frame(frame: pd.DataFrame) -> Columns:
    """Each column of ``frame`` as a numpy array (no copy where pandas allows)."""
    return {str(c): frame[c].to_numpy() for c in frame.columns}


def from_records(records: list[Mapping[str, Any]], names: Iterable[str] | None = None) -> Columns:
    """Columns from row dicts; a name missing from a row is None there."""
    names = list(names) if names is not None else list(dict.fromkeys(k for r in records for k in r))
    out: Columns = {}
    for name in names:
        values = [r.get(name) for r in records]
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        out[name] = arr
    return out


def as_columns(data: pd.DataFrame | Columns) -> tuple[Columns, int]:
    """(columns, row count) of a DataFrame or of Columns (so a function can take either)."""
    if isinstance(data, pd.DataFrame):
        return from_frame(data), len(data)
    return data, length(data)


def length(cols: Columns, default: int = 0) -> int:
    for v in cols.values():
        return len(v)
    return default


def take(cols: Columns, rows: np.ndarray) -> Columns:
    """The rows selected by a boolean mask or index array."""
    return {k: v[rows] for k, v in cols.items()}


def numeric(cols: Columns, name: str, n: int) -> np.ndarray:
    """One column as float64: None, NaN and unparsable values -> NaN; absent column -> all NaN."""
    values = cols.get(name)
    if values is None:
        return np.full(n, np.nan)
    if values.dtype.kind in "fiub":
        return values.astype(np.float64)
    try:
        return values.astype(np.float64)  # object arrays of numbers and None
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )


def numeric_matrix(cols: Columns, names: list[str], n: int) -> np.ndarray:
    """Several columns as an (n, len(names)) float64 matrix (see :func:`numeric`)."""
    out = np.empty((n, len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        out[:, j] = numeric(cols, name, n)
    return out


def text(cols: Columns, name: str, n: int, missing: str = "missing") -> np.ndarray:
    """One categorical column as an object array of str; None/NaN and absent -> ``missing``."""
    values = cols.get(name)
    if values is None:
        return np.full(n, missing, dtype=object)
    out = np.empty(n, dtype=object)
    out[:] = [
        missing if (v is None or (isinstance(v, float) and v != v)) else (v if isinstance(v, str) else str(v))
        for v in values.tolist()
    ]
    return out


def to_frame(cols: Columns, index: pd.Index | None = None) -> pd.DataFrame:
    return pd.DataFrame(cols, index=index)
