"""Bring-your-own data: a customer table (CSV, Parquet or SQL) mapped onto churnguard's columns.

Mapping rules (one set for every source, params ``data.<source>``):
- a mapped column matches the table's column ignoring case, spaces and punctuation
  (``MonthlyCharges`` = ``monthlycharges`` = ``Monthly Charges``);
- a mapped column the table lacks stops ingest with an error naming the setting, the closest
  column (difflib) and every column of the table; an unset (null) mapping means "absent";
- other columns keep their data, renamed to snake_case, and become features.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

# churnguard name -> key of the column mapping in params `data.<source>`
MAPPED = {
    "customer_id": "id_column",
    "churn_label": "label_column",
    "tenure_months": "tenure_column",
    "monthly_charges": "monthly_charges_column",
    "contract": "contract_column",
}
ID, LABEL = "customer_id", "churn_label"


class MappingError(ValueError):
    """A mapped column is missing or ambiguous; the message names the setting to change."""


@dataclass
class IngestReport:
    rows_read: int
    rows_written: int
    # rows dropped because their customer id was already seen (None: no id column, dedup not run)
    duplicate_ids: int | None
    conflicting_duplicate_ids: int | None
    exact_duplicate_rows: int  # rows identical to an earlier row in every column
    dedup: str  # what de-duplication did, in words
    blank_numeric_cells: dict[str, int] = field(default_factory=dict)
    source: str = "csv"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def column_key(name: str) -> str:
    """The matching key of a column name: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _snake(name: str) -> str:
    out = "".join(
        "_" + c.lower() if c.isupper() and i and not name[i - 1].isupper() else c.lower()
        for i, c in enumerate(name.strip())
    )
    return re.sub(r"[^0-9a-z]+", "_", out).strip("_")


def _missing_message(setting: str, wanted: str, columns: list[str]) -> str:
    keys = {column_key(c): c for c in columns}
    close = difflib.get_close_matches(column_key(wanted), list(keys), n=1, cutoff=0.6)
    hint = f" Did you mean {keys[close[0]]!r}?" if close else ""
    return (
        f"{setting} is {wanted!r}, but the table has no such column (matching ignores case and "
        f"punctuation).{hint} Set {setting} to one of the table's columns, or to null if it has none: "
        f"{', '.join(map(repr, columns))}"
    )


def resolve_mapping(columns: list[str], cfg: dict[str, Any], section: str) -> dict[str, str]:
    """Table column -> churnguard name for every mapped column; MappingError naming the setting otherwise."""
    by_key: dict[str, list[str]] = {}
    for c in columns:
        by_key.setdefault(column_key(c), []).append(c)
    rename: dict[str, str] = {}
    for name, key in MAPPED.items():
        wanted = cfg.get(key)
        if not wanted:
            continue
        found = by_key.get(column_key(wanted), [])
        if not found:
            raise MappingError(_missing_message(f"{section}.{key}", str(wanted), columns))
        if len(found) > 1:
            raise MappingError(
                f"{section}.{key} is {wanted!r}, which matches several columns {found} when case "
                "and punctuation are ignored: rename one of them"
            )
        rename[found[0]] = name
    return rename


def _rename(df: pd.DataFrame, cfg: dict[str, Any], section: str) -> pd.DataFrame:
    rename = resolve_mapping([str(c) for c in df.columns], cfg, section)
    rename.update({c: _snake(str(c)) for c in df.columns if c not in rename})
    clashes = pd.Series(list(rename.values())).value_counts()
    if (clashes > 1).any():
        dup = clashes[clashes > 1].index[0]
        raise MappingError(
            f"{section}: several columns become {dup!r} "
            f"({[c for c, n in rename.items() if n == dup]}); rename or map one of them"
        )
    return df.rename(columns=rename)


def _text(values: pd.Series) -> pd.Series:
    """Stripped text with missing cells as None (object dtype, what Parquet and GE expect)."""
    s = values.astype("string").str.strip()
    return s.astype(object).where(s.notna(), None)


def _type_columns(df: pd.DataFrame) -> dict[str, int]:
    """Text columns whose every non-blank cell is a number become numeric; returns blank cells per column."""
    blanks: dict[str, int] = {}
    for col in df.columns:
        if col in (ID, LABEL) or pd.api.types.is_numeric_dtype(df[col]) or pd.api.types.is_bool_dtype(df[col]):
            continue
        stripped = _text(df[col]).fillna("")
        non_blank = stripped != ""
        numeric = pd.to_numeric(stripped.where(non_blank), errors="coerce")
        if non_blank.any() and numeric[non_blank].notna().all():
            if int((~non_blank).sum()):
                blanks[col] = int((~non_blank).sum())
            df[col] = numeric
        else:
            df[col] = stripped.where(non_blank)
    return blanks


def _deduplicate(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    exact = df.astype(str).duplicated(keep="first")
    if ID not in df.columns:
        return df, {
            "duplicate_ids": None,
            "conflicting_duplicate_ids": None,
            "exact_duplicate_rows": int(exact.sum()),
            "dedup": "not run: no customer id column is mapped, so duplicates cannot be recognised",
        }
    dup_mask = df.duplicated(ID, keep="first")
    conflicting = 0
    if dup_mask.any():
        dups = df[df[ID].isin(df.loc[dup_mask, ID])].astype(str)
        conflicting = int((dups.drop_duplicates().groupby(ID).size() > 1).sum())
    info = {
        "duplicate_ids": int(dup_mask.sum()),
        "conflicting_duplicate_ids": conflicting,
        "exact_duplicate_rows": int(exact.sum()),
        "dedup": f"kept the first row of each customer id; dropped {int(dup_mask.sum())} rows",
    }
    return df[~dup_mask].reset_index(drop=True), info


def prepare_customers(raw: pd.DataFrame, cfg: dict[str, Any], source: str = "csv") -> tuple[pd.DataFrame, IngestReport]:
    """Map, type and de-duplicate a raw customer table. Unknown label values are kept for validation to name."""
    df = _rename(raw.copy(), cfg, f"data.{source}")
    if ID in df.columns:
        df[ID] = df[ID].astype(str).str.strip()
    if LABEL in df.columns:
        df[LABEL] = _text(df[LABEL])
        if source != "csv":  # one label convention downstream: features read Yes/No for non-CSV sources
            df[LABEL] = df[LABEL].replace(
                {str(cfg.get("positive_label", "Yes")): "Yes", str(cfg.get("negative_label", "No")): "No"}
            )
    blanks = _type_columns(df)
    df, dedup = _deduplicate(df)
    return df, IngestReport(
        rows_read=len(raw), rows_written=len(df), blank_numeric_cells=blanks, source=source, **dedup
    )


def read_customer_csv(path: Path, csv_cfg: dict[str, Any]) -> tuple[pd.DataFrame, IngestReport]:
    """A customer CSV at ``path`` mapped with ``csv_cfg`` (the ``data.csv`` params)."""
    from churnguard.data.sources.files import read_csv_table

    return prepare_customers(read_csv_table(dict(csv_cfg, path=str(Path(path).resolve())), Path(".")), csv_cfg, "csv")


def ingest_source(data_cfg: dict[str, Any], root: Path, raw_dir: Path) -> IngestReport:
    """Read ``data.source``, write ``raw_dir/customers.parquet`` plus ``ingest_report.json``."""
    from churnguard.data.sources import reader_for

    source = data_cfg["source"]
    cfg = data_cfg.get(source) or {}
    df, report = prepare_customers(reader_for(source)(cfg, root), cfg, source)
    raw_dir.mkdir(parents=True, exist_ok=True)
    for stale in raw_dir.glob("*.parquet"):
        stale.unlink()  # a customer table has no graph, events or campaign: remove the world's
    df.to_parquet(raw_dir / "customers.parquet", index=False)
    (raw_dir / "ingest_report.json").write_text(json.dumps(report.as_dict(), indent=2))
    return report


def ingest_csv(csv_cfg: dict[str, Any], root: Path, raw_dir: Path) -> IngestReport:
    """The CSV case of ``ingest_source`` (kept for callers of the earlier API)."""
    return ingest_source({"source": "csv", "csv": csv_cfg}, root, raw_dir)
