"""File sources: a CSV (every cell read as text, typed later) or Parquet (a file or a folder of files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


def source_path(cfg: dict[str, Any], root: Path, setting: str) -> Path:
    """``cfg['path']`` relative to the workspace root; an error naming ``setting`` when it is absent."""
    if not cfg.get("path"):
        raise ValueError(f"{setting}.path is not set: point it at your customer table")
    path = Path(cfg["path"])
    path = path if path.is_absolute() else root / path
    if not path.exists():
        raise FileNotFoundError(f"{setting}.path points to {cfg['path']}, which does not exist")
    return path


def read_csv_table(cfg: dict[str, Any], root: Path) -> pd.DataFrame:
    # text first: blank numeric cells (" ") and ids with leading zeros survive; ingest types columns
    return pd.read_csv(source_path(cfg, root, "data.csv"), dtype=str, keep_default_na=False)


def read_parquet_table(cfg: dict[str, Any], root: Path) -> pd.DataFrame:
    return pd.read_parquet(source_path(cfg, root, "data.parquet"))
