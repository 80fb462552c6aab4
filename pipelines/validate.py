"""Stage `validate`: one Great Expectations suite per input table (customers, and events,
referrals, campaign where the source has them), with Data Docs that render offline.

Reads params: data, validate, world.observation_date. Writes data/validated/customers.parquet,
metrics/validation.json and HTML Data Docs (validate.data_docs_dir); exits non-zero naming each
failing expectation, so nothing downstream runs.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from churnguard.core.config import PATHS, build, load_params, resolve
from churnguard.core.metrics import write_metrics
from churnguard.data.data_docs import make_offline
from churnguard.data.table_suites import BATCHED, SUITES, TableContext, duplicated_values, table_context
from churnguard.data.validation import (
    Batch,
    ValidateConfig,
    ValidationReport,
    build_expectations,
    required_columns,
    run_suites,
)
from churnguard.features.table import label_values


def table_batches(name: str, path: Path, ctx: TableContext, batch_rows: int) -> Iterator[Batch]:
    """A table's suite on the whole table, or (row-wise suites) on one batch of rows at a time."""
    if name not in BATCHED:
        yield (name, *SUITES[name](pd.read_parquet(path), ctx))
        return
    for record_batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        yield (name, *SUITES[name](record_batch.to_pandas(), ctx))


def batches(params: dict, cfg: ValidateConfig, customers: pd.DataFrame) -> Iterator[Batch]:
    data = params["data"]
    yield ("customers", customers, build_expectations(customers, cfg, label_values(data), required_columns(data)))
    present = {name: PATHS.raw / f"{name}.parquet" for name in SUITES if (PATHS.raw / f"{name}.parquet").exists()}
    if not present:
        return
    former_path = PATHS.raw / "former_customers.parquet"
    former = pd.read_parquet(former_path, columns=["customer_id"]) if former_path.exists() else None
    ctx = table_context(customers, former, params["world"]["observation_date"], cfg)
    if "events" in present and "event_id" in pq.read_schema(present["events"]).names:
        ids = pq.read_table(present["events"], columns=["event_id"]).column(0).to_numpy()
        ctx = replace(ctx, duplicated_event_ids=duplicated_values(ids))
        del ids
    for name, path in present.items():
        yield from table_batches(name, path, ctx, cfg.batch_rows)


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
    cfg = build(ValidateConfig, params["validate"], "validate")
    customers = pd.read_parquet(PATHS.raw / "customers.parquet")
    docs = resolve(cfg.data_docs_dir)
    shutil.rmtree(docs, ignore_errors=True)  # one run per site: the index shows this run only
    reports = run_suites(batches(params, cfg, customers), docs_dir=docs)
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
