"""Where a customer table comes from: a registry of small readers (csv, parquet, sql).

Each reader takes its params section (``data.<source>``) and the workspace root and returns the
raw table as a DataFrame; mapping, typing and de-duplication happen afterwards in
``churnguard.data.ingest`` so every source gets the same treatment. The ingest stage does the I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from churnguard.data.sources.files import read_csv_table, read_parquet_table
from churnguard.data.sources.sql import read_sql_table

Reader = Callable[[dict[str, Any], Path], pd.DataFrame]

READERS: dict[str, Reader] = {
    "csv": read_csv_table,
    "parquet": read_parquet_table,
    "sql": read_sql_table,
}


def reader_for(source: str) -> Reader:
    """The reader of ``data.source``; a clear error listing the choices otherwise."""
    if source not in READERS:
        raise ValueError(f"data.source must be 'synthetic' or one of {sorted(READERS)}, got {source!r}")
    return READERS[source]
