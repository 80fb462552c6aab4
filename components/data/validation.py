"""Data validation with Great Expectations 1.x: the customers suite (schema, ranges, nulls,
uniqueness, labels) here, the suites of events, referrals and campaign in components/data/table_suites.py.

A failure names each failing expectation, its column, the unexpected count and sample values;
the validate stage then exits non-zero so nothing downstream (and nothing in the registry) runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from churnguard.core.vocabulary import PROFILE

# Columns every source must provide after ingest (CSV sources map theirs onto these names).
REQUIRED = ["customer_id", "churn_label", "tenure_months", "monthly_charges"]
# Columns the synthetic world always has; a world batch missing one is corrupt.
WORLD_COLUMNS = [
    *REQUIRED,
    *PROFILE,
    "support_tickets_90d",
    "usage_hours_30d",
]
# Nulls allowed by design: a cold-start customer has no usage history yet.
NULLABLE_BY_DESIGN = {"usage_hours_30d"}


@dataclass(frozen=True)
class CampaignChecks:
    arms: tuple[str, ...] | None = None  # the randomized arms (None: churnguard.core.vocabulary.ARMS)
    share_tolerance: float = 0.05  # each arm's share may differ from 1/arms by at most this


@dataclass(frozen=True)
class ValidateConfig:
    """params ``validate``: the customers suite's ranges and null budget, Data Docs, batch size."""

    max_null_share: float
    tenure_months: tuple[float, float]
    monthly_charges: tuple[float, float]
    age: tuple[float, float]
    data_docs_dir: str
    campaign: CampaignChecks = field(default_factory=CampaignChecks)
    # Large tables (the click-stream) are validated in batches of this many rows, so memory stays
    # bounded as they grow; row-wise expectations add up exactly, uniqueness is checked table-wide.
    batch_rows: int = 2_000_000


@dataclass
class Failure:
    expectation: str
    column: str | None
    unexpected_count: int | None
    unexpected_percent: float | None
    sample: list[Any] = field(default_factory=list)
    table: str = "customers"

    def __str__(self) -> str:
        where = f"column {self.column!r}" if self.column else "table"
        where = f"{self.table}: {where}"
        count = (
            ""
            if self.unexpected_count is None
            else (f": {self.unexpected_count} unexpected ({self.unexpected_percent:.1f}%)")
        )
        sample = f", e.g. {self.sample[:5]}" if self.sample else ""
        return f"{self.expectation} on {where}{count}{sample}"


@dataclass
class ValidationReport:
    success: bool
    evaluated: int
    failures: list[Failure]
    table: str = "customers"
    batches: int = 1  # a large table is checked in several batches of rows, one report for all
    rows: int = 0

    def message(self) -> str:
        where = f" ({self.batches} batches)" if self.batches > 1 else ""
        if self.success:
            return f"validation of {self.table} passed: {self.evaluated} expectations{where}"
        lines = [f"validation of {self.table} FAILED: {len(self.failures)} of {self.evaluated} expectations{where}"]
        lines += [f"  - {f}" for f in self.failures]
        return "\n".join(lines)


def required_columns(data_cfg: dict[str, Any]) -> list[str]:
    """Columns a batch of the configured source must have (own tables: every mapped column)."""
    if data_cfg["source"] == "synthetic":
        return WORLD_COLUMNS
    from churnguard.data.ingest import MAPPED

    section = data_cfg.get(data_cfg["source"]) or {}
    return [name for name, key in MAPPED.items() if section.get(key)]


def build_expectations(
    df: pd.DataFrame, cfg: ValidateConfig, labels: tuple[str, str], expected_columns: list[str]
) -> list:
    """The suite, derived from params (ranges, null budget) and the source's label set."""
    import great_expectations as gx

    E = gx.expectations
    exps: list = [E.ExpectColumnToExist(column=c) for c in dict.fromkeys(REQUIRED + expected_columns)]
    exps += [
        E.ExpectTableRowCountToBeBetween(min_value=10),
        E.ExpectColumnValuesToBeUnique(column="customer_id"),
        E.ExpectColumnValuesToNotBeNull(column="customer_id"),
        E.ExpectColumnValuesToBeInSet(column="churn_label", value_set=list(labels)),
        E.ExpectColumnValuesToBeBetween(
            column="tenure_months", min_value=cfg.tenure_months[0], max_value=cfg.tenure_months[1]
        ),
        E.ExpectColumnValuesToBeBetween(
            column="monthly_charges", min_value=cfg.monthly_charges[0], max_value=cfg.monthly_charges[1]
        ),
    ]
    if "age" in df.columns:
        exps.append(E.ExpectColumnValuesToBeBetween(column="age", min_value=cfg.age[0], max_value=cfg.age[1]))
    mostly = 1.0 - cfg.max_null_share
    for col in df.columns:
        if col in NULLABLE_BY_DESIGN:
            # nulls only where history is absent (cold start): checked on established rows
            exps.append(
                E.ExpectColumnValuesToNotBeNull(
                    column=col, mostly=mostly, row_condition="tenure_months > 1", condition_parser="pandas"
                )
            )
        elif col not in ("customer_id",):
            exps.append(E.ExpectColumnValuesToNotBeNull(column=col, mostly=mostly))
    return exps


def validate_frame(
    df: pd.DataFrame,
    cfg: ValidateConfig,
    labels: tuple[str, str],
    expected_columns: list[str],
    docs_dir: Path | None = None,
) -> ValidationReport:
    """Run the customers suite on a frame; optionally write HTML Data Docs to ``docs_dir``."""
    batch = ("customers", df, build_expectations(df, cfg, labels, expected_columns))
    return run_suites([batch], docs_dir)["customers"]


Batch = tuple[str, pd.DataFrame, list]  # table name, rows (all of it or one batch of it), expectations


def run_suites(batches: Iterable[Batch], docs_dir: Path | None = None) -> dict[str, ValidationReport]:
    """One suite per table in one GE context, Data Docs for all. A table may come in several batches
    of rows (a generator keeps one in memory at a time): each is checked by the table's checkpoint
    and the results are merged into one report (the suite comes from the table's first batch)."""
    context = _context(docs_dir)
    source = context.data_sources.add_pandas("churnguard_source")
    checkpoints: dict[str, Any] = {}
    reports: dict[str, ValidationReport] = {}
    for name, df, expectations in batches:
        if name not in checkpoints:
            checkpoints[name] = _checkpoint(context, source, name, expectations, docs=docs_dir is not None)
        result = checkpoints[name].run(batch_parameters={"dataframe": df})
        report = _report(next(iter(result.run_results.values())), name, rows=len(df))
        reports[name] = merge_reports(reports[name], report) if name in reports else report
    return reports


def _context(docs_dir: Path | None) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from churnguard.core.progress import progress_bars

    context = gx.get_context(mode="ephemeral")
    # GE's "Calculating Metrics" bars follow the project's one rule (a terminal, no TQDM_DISABLE)
    context.variables.progress_bars = ProgressBarsConfig(globally=progress_bars())
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        context.add_data_docs_site(
            site_name="churnguard",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return context


def _checkpoint(context: Any, source: Any, name: str, expectations: list, docs: bool) -> Any:
    import great_expectations as gx

    batch_def = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(gx.ExpectationSuite(name=f"{name}_suite"))
    for exp in expectations:
        suite.add_expectation(exp)
    vdef = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{name}_validation", data=batch_def, suite=suite)
    )
    actions: list[Any] = [gx.checkpoint.UpdateDataDocsAction(name="docs")] if docs else []
    return context.checkpoints.add(
        gx.Checkpoint(
            name=f"{name}_checkpoint",
            validation_definitions=[vdef],
            actions=actions,
            result_format={"result_format": "SUMMARY"},
        )
    )


def merge_reports(first: ValidationReport, later: ValidationReport) -> ValidationReport:
    """One report for two batches of one table: unexpected counts add up (row-wise expectations),
    percentages are over all rows checked, samples come from the first batch that failed."""
    rows = first.rows + later.rows
    merged: dict[tuple[str, str | None], Failure] = {}
    for f in [*first.failures, *later.failures]:
        key = (f.expectation, f.column)
        if key not in merged:
            merged[key] = Failure(f.expectation, f.column, f.unexpected_count, None, list(f.sample), f.table)
        elif f.unexpected_count is not None:
            merged[key].unexpected_count = (merged[key].unexpected_count or 0) + f.unexpected_count
    for f in merged.values():
        f.unexpected_percent = None if f.unexpected_count is None else 100.0 * f.unexpected_count / max(rows, 1)
    return ValidationReport(
        success=first.success and later.success,
        evaluated=first.evaluated,
        failures=list(merged.values()),
        table=first.table,
        batches=first.batches + later.batches,
        rows=rows,
    )


def _report(run: Any, table: str, rows: int) -> ValidationReport:
    failures = []
    for r in run.results:
        if r.success:
            continue
        cfgx = r.expectation_config
        res = r.result or {}
        failures.append(
            Failure(
                expectation=cfgx.type,
                column=cfgx.kwargs.get("column"),
                unexpected_count=res.get("unexpected_count"),
                unexpected_percent=res.get("unexpected_percent"),
                sample=[v for v in (res.get("partial_unexpected_list") or [])][:5],
                table=table,
            )
        )
    return ValidationReport(
        success=bool(run.success), evaluated=len(run.results), failures=failures, table=table, rows=rows
    )
