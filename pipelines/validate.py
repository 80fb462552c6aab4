"""Stage `validate`: one Great Expectations suite per input table (customers, and events,
referrals, campaign where the source has them), with Data Docs that render offline.

Reads params: data, validate, world.observation_date. Writes data/validated/customers.parquet,
metrics/validation.json and HTML Data Docs (validate.data_docs_dir); exits non-zero naming each
failing expectation, so nothing downstream runs.
"""

from __future__ import annotations

import shutil
import sys

import pandas as pd

from churnguard.core.config import PATHS, load_params, resolve
from churnguard.core.metrics import write_metrics
from churnguard.data.data_docs import make_offline
from churnguard.data.table_suites import SUITES, table_context
from churnguard.data.validation import ValidationReport, build_expectations, required_columns, run_suites
from churnguard.features.table import label_values


def batches(params: dict, customers: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, list]]:
    data, cfg = params["data"], params["validate"]
    out = {"customers": (customers, build_expectations(customers, cfg, label_values(data), required_columns(data)))}
    present = {name: PATHS.raw / f"{name}.parquet" for name in SUITES if (PATHS.raw / f"{name}.parquet").exists()}
    if present:
        former_path = PATHS.raw / "former_customers.parquet"
        former = pd.read_parquet(former_path, columns=["customer_id"]) if former_path.exists() else None
        ctx = table_context(customers, former, params)
        for name, path in present.items():
            out[name] = SUITES[name](pd.read_parquet(path), ctx)
    return out


def mapping_hint(data: dict, report: ValidationReport) -> str:
    """For an own table: which setting maps a column the suite found missing."""
    from churnguard.data.ingest import MAPPED

    if data["source"] == "synthetic":
        return ""
    missing = [f.column for f in report.failures if f.expectation == "expect_column_to_exist"]
    hints = [f"data.{data['source']}.{MAPPED[c]}" for c in missing if c in MAPPED]
    return f"map the missing columns with: {', '.join(hints)}" if hints else ""


def main() -> int:
    params = load_params()
    cfg = params["validate"]
    customers = pd.read_parquet(PATHS.raw / "customers.parquet")
    docs = resolve(cfg["data_docs_dir"])
    shutil.rmtree(docs, ignore_errors=True)  # one run per site: the index shows this run only
    reports = run_suites(batches(params, customers), docs_dir=docs)
    index = make_offline(docs, reports)
    ok = all(r.success for r in reports.values())
    PATHS.metrics.mkdir(parents=True, exist_ok=True)
    write_metrics(
        PATHS.metrics / "validation.json",
        {
            "success": ok,
            "evaluated": sum(r.evaluated for r in reports.values()),
            "failed": sum(len(r.failures) for r in reports.values()),
            "tables": {
                n: {"success": r.success, "evaluated": r.evaluated, "failed": len(r.failures)}
                for n, r in reports.items()
            },
        },
    )
    for report in reports.values():
        print(report.message())
    hint = mapping_hint(params["data"], reports["customers"])
    if hint:
        print(hint)
    print(f"data docs: {index.relative_to(PATHS.root) if index.is_relative_to(PATHS.root) else index}")
    if not ok:
        return 1
    PATHS.validated.mkdir(parents=True, exist_ok=True)
    customers.to_parquet(PATHS.validated / "customers.parquet", index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
