"""Batch scoring and the scenario sweep on Spark: the bundle and the interventions part per partition.

``mapInPandas`` hands each task its partition as pandas batches; the task loads the bundle (or the
interventions part) once per Python worker and calls the same public functions the single-machine
stages call (:meth:`ModelBundle.predict`, :meth:`InterventionsPart.recommend` with the sweep's context
columns), so a cluster computes exactly what one machine computes, only spread over executors. The
model folder must be readable by every executor (shared or object storage, or shipped with
``spark-submit --archives``: docs/scaling.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from churnguard.core.bundle import ModelBundle
from churnguard.core.vocabulary import ID
from churnguard.interventions.part import InterventionsPart, load_part
from churnguard.interventions.sweep import CONTEXT_COLUMNS

SCHEMA_SAMPLE_ROWS = 64  # rows scored on the driver to learn the output schema


@lru_cache(maxsize=4)
def bundle_at(bundle_dir: str) -> ModelBundle:
    """The bundle of a folder, loaded once per Python process (a Spark worker serves many batches)."""
    return ModelBundle(Path(bundle_dir))


@lru_cache(maxsize=4)
def _interventions(part_dir: str) -> InterventionsPart:
    return load_part(Path(part_dir))


def score_batch(bundle: ModelBundle, features: pd.DataFrame) -> pd.DataFrame:
    """customer_id + every score column of the bundle for one batch of feature rows."""
    features = features.reset_index(drop=True)
    return pd.concat([features[[ID]], bundle.predict(features)], axis=1)


def scenario_batch(part: InterventionsPart, features: pd.DataFrame) -> pd.DataFrame:
    """Every scenario for one batch of customers, with the sweep's context columns (as a sweep shard)."""
    features = features.reset_index(drop=True)
    context = features.reindex(columns=[ID, *CONTEXT_COLUMNS])
    return part.recommend(features, out_of_fold=True).merge(context, on=ID, how="left")


def _map(features: Any, per_batch: Callable[[pd.DataFrame], pd.DataFrame]) -> Any:
    """``features.mapInPandas(per_batch)`` with the output schema learnt from a small driver-side sample."""
    sample = features.limit(SCHEMA_SAMPLE_ROWS).toPandas()
    schema = features.sparkSession.createDataFrame(per_batch(sample)).schema

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield per_batch(batch)

    return features.mapInPandas(run, schema)


def score_on_spark(features: Any, bundle_dir: Path | str) -> Any:
    """A Spark DataFrame of scores (customer_id + the bundle's columns) for a Spark DataFrame of features."""
    path = str(bundle_dir)
    return _map(features, lambda batch: score_batch(bundle_at(path), batch))


def sweep_on_spark(features: Any, part_dir: Path | str) -> Any:
    """A Spark DataFrame of every scenario x customer (the sweep's shard table) for a Spark DataFrame of features."""
    path = str(part_dir)
    return _map(features, lambda batch: scenario_batch(_interventions(path), batch))
