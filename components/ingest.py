"""Bring-your-own data: a Telco-style customer CSV mapped onto churnguard's columns."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

# churnguard name -> key of the column mapping in params `data.csv`
MAPPED = {
    "customer_id": "id_column",
    "churn_label": "label_column",
    "tenure_months": "tenure_column",
    "monthly_charges": "monthly_charges_column",
    "contract": "contract_column",
}


@dataclass
class IngestReport:
    rows_read: int
    rows_written: int
    duplicate_ids: int
    conflicting_duplicate_ids: int
    blank_numeric_cells: dict[str, int] = field(default_factory=dict)
    missing_mapped_columns: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() and i and not name[i - 1].isupper() else c.lower()
                  for i, c in enumerate(name.strip()))
    return out.replace(" ", "_").replace("-", "_")


def read_customer_csv(path: Path, csv_cfg: dict[str, Any]) -> tuple[pd.DataFrame, IngestReport]:
    """Read a customer CSV, rename mapped columns, coerce blank numerics, drop duplicate ids.

    Unknown label values are kept as they are so that validation can name them.
    """
    if not path.exists():
        raise FileNotFoundError(f"data.csv.path points to {path}, which does not exist")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows_read = len(df)
    rename = {csv_cfg[key]: name for name, key in MAPPED.items() if csv_cfg.get(key) in df.columns}
    missing = [csv_cfg[key] for name, key in MAPPED.items() if csv_cfg.get(key) and csv_cfg[key] not in df.columns]
    df = df.rename(columns=rename)
    df = df.rename(columns={c: _snake(c) for c in df.columns if c not in rename.values()})

    blanks: dict[str, int] = {}
    for col in df.columns:
        if col in ("customer_id", "churn_label"):
            continue
        stripped = df[col].str.strip()
        numeric = pd.to_numeric(stripped.where(stripped != ""), errors="coerce")
        non_blank = stripped != ""
        # a column is numeric when every non-blank cell parses as a number
        if non_blank.any() and numeric[non_blank].notna().all():
            blanks_here = int((~non_blank).sum())
            if blanks_here:
                blanks[col] = blanks_here
            df[col] = numeric
        else:
            df[col] = stripped.where(non_blank)

    dup_mask = df.duplicated("customer_id", keep="first") if "customer_id" in df else pd.Series(False, index=df.index)
    conflicting = 0
    if dup_mask.any():
        dups = df[df["customer_id"].isin(df.loc[dup_mask, "customer_id"])]
        conflicting = int((dups.drop_duplicates().groupby("customer_id").size() > 1).sum())
    df = df[~dup_mask].reset_index(drop=True)
    report = IngestReport(rows_read, len(df), int(dup_mask.sum()), conflicting, blanks, missing)
    return df, report


def ingest_csv(csv_cfg: dict[str, Any], root: Path, raw_dir: Path) -> IngestReport:
    """Write the mapped CSV as ``raw_dir/customers.parquet`` plus an ingest report."""
    src = Path(csv_cfg["path"])
    df, report = read_customer_csv(src if src.is_absolute() else root / src, csv_cfg)
    raw_dir.mkdir(parents=True, exist_ok=True)
    for stale in raw_dir.glob("*.parquet"):
        stale.unlink()  # a CSV source has no graph, events or campaign: remove the world's
    df.to_parquet(raw_dir / "customers.parquet", index=False)
    (raw_dir / "ingest_report.json").write_text(json.dumps(report.as_dict(), indent=2))
    return report
