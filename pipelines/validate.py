"""Stage `validate`: Great Expectations suite on the raw customer table.

Reads params: data, validate. Writes data/validated/customers.parquet, metrics/validation.json and
HTML Data Docs; exits non-zero naming each failing expectation, so nothing downstream runs.
"""
from __future__ import annotations

import sys

import pandas as pd

from components.config import PATHS, load_params, resolve
from components.features.table import label_values
from components.metrics import write_metrics
from components.validation import required_columns, validate_frame


def main() -> int:
    params = load_params()
    data, cfg = params["data"], params["validate"]
    df = pd.read_parquet(PATHS.raw / "customers.parquet")
    report = validate_frame(df, cfg, label_values(data), required_columns(data),
                            docs_dir=resolve(cfg["data_docs_dir"]))
    PATHS.metrics.mkdir(parents=True, exist_ok=True)
    write_metrics(PATHS.metrics / "validation.json",
                  {"success": report.success, "evaluated": report.evaluated, "failed": len(report.failures)})
    print(report.message())
    print(f"data docs: {cfg['data_docs_dir']}/index.html")
    if not report.success:
        return 1
    PATHS.validated.mkdir(parents=True, exist_ok=True)
    df.to_parquet(PATHS.validated / "customers.parquet", index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
