"""Data validation with Great Expectations 1.x: the customers suite (schema, ranges, nulls,
uniqueness, labels) here, the suites of events, referrals and campaign in components/data/table_suites.py.

A failure names each failing expectation, its column, the unexpected count and sample values;
the validate stage then exits non-zero so nothing downstream (and nothing in the registry) runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

# Columns every source must provide after ingest (CSV sources map theirs onto these names).
REQUIRED = ["customer_id", "churn_label", "tenure_months", "monthly_charges"]
# Columns the synthetic world always has; a world batch missing one is corrupt.
WORLD_COLUMNS = [
    *REQUIRED,
    "age",
    "income_band",
    "region",
    "signup_channel",
    "plan",
    "contract",
    "payment_method",
    "support_tickets_90d",
    "usage_hours_30d",
]
# Nulls allowed by design: a cold-start customer has no usage history yet.
NULLABLE_BY_DESIGN = {"usage_hours_30d"}


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

    def message(self) -> str:
        if self.success:
            return f"validation of {self.table} passed: {self.evaluated} expectations"
        lines = [f"validation of {self.table} FAILED: {len(self.failures)} of {self.evaluated} expectations"]
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
    df: pd.DataFrame, cfg: dict[str, Any], labels: tuple[str, str], expected_columns: list[str]
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
            column="tenure_months", min_value=cfg["tenure_months"][0], max_value=cfg["tenure_months"][1]
        ),
        E.ExpectColumnValuesToBeBetween(
            column="monthly_charges", min_value=cfg["monthly_charges"][0], max_value=cfg["monthly_charges"][1]
        ),
    ]
    if "age" in df.columns:
        exps.append(E.ExpectColumnValuesToBeBetween(column="age", min_value=cfg["age"][0], max_value=cfg["age"][1]))
    mostly = 1.0 - float(cfg["max_null_share"])
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
    cfg: dict[str, Any],
    labels: tuple[str, str],
    expected_columns: list[str],
    docs_dir: Path | None = None,
) -> ValidationReport:
    """Run the customers suite on a frame; optionally write HTML Data Docs to ``docs_dir``."""
    batch = {"customers": (df, build_expectations(df, cfg, labels, expected_columns))}
    return run_suites(batch, docs_dir)["customers"]


def run_suites(
    batches: dict[str, tuple[pd.DataFrame, list]], docs_dir: Path | None = None
) -> dict[str, ValidationReport]:
    """One suite per table (``name -> (frame, expectations)``) in one GE context; Data Docs for all."""
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
    source = context.data_sources.add_pandas("churnguard_source")
    reports = {}
    for name, (df, expectations) in batches.items():
        batch_def = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe("whole")
        suite = context.suites.add(gx.ExpectationSuite(name=f"{name}_suite"))
        for exp in expectations:
            suite.add_expectation(exp)
        vdef = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{name}_validation", data=batch_def, suite=suite)
        )
        actions: list[Any] = [gx.checkpoint.UpdateDataDocsAction(name="docs")] if docs_dir is not None else []
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{name}_checkpoint",
                validation_definitions=[vdef],
                actions=actions,
                result_format={"result_format": "SUMMARY"},
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": df})
        reports[name] = _report(next(iter(result.run_results.values())), name)
    return reports


def _report(run, table: str) -> ValidationReport:
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
    return ValidationReport(success=bool(run.success), evaluated=len(run.results), failures=failures, table=table)
