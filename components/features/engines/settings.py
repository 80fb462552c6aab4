"""Typed settings of the feature engines (params ``features.duckdb``, ``features.spark``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class DuckDBSettings:
    memory_limit: str = "3GB"  # DuckDB spills its hash tables to temp_directory beyond this
    temp_directory: str | None = None  # None: a temporary folder removed after the query


@dataclass(frozen=True)
class SparkSettings:
    master: str = "local[2]"  # a cluster's master URL (or leave it to spark-submit: docs/scaling.md)
    driver_memory: str = "4g"
    shuffle_partitions: int = 8
    conf: dict[str, str] = field(default_factory=dict)  # any further spark.* settings


class EngineSettings(Protocol):
    """What an engine call needs (``churnguard.features.table.FeaturesConfig`` has it)."""

    @property
    def engine(self) -> Literal["pandas", "duckdb", "spark"]: ...

    @property
    def duckdb(self) -> DuckDBSettings: ...

    @property
    def spark(self) -> SparkSettings: ...
