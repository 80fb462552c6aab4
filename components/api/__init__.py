"""The Python API: ``import churnguard``, then ``churnguard.load()`` (in-process) or
``churnguard.connect(url)`` (a running ``churnguard serve``); both return a client with the same calls.

>>> import churnguard
>>> cg = churnguard.load()                      # models:/churnguard@champion, loaded once  # doctest: +SKIP
>>> cg.predict(["C0000001"])                    # a frame, one row per customer           # doctest: +SKIP

docs/python_api.md documents every call, its result's columns and errors.
"""

# ruff: noqa: F401  (the imports are the package's names: __all__ below comes from the top level)
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import pandas as pd

from churnguard import __all__  # the top-level names, listed once in components/__init__.py
from churnguard.api.base import ChurnguardAPI
from churnguard.api.errors import (
    ChurnguardError,
    FieldError,
    InvalidInput,
    MissingPart,
    ModelUnavailable,
    RateLimited,
    ServiceError,
    Unauthorized,
    UnknownCustomers,
)
from churnguard.api.http import HttpClient
from churnguard.api.inputs import Customer
from churnguard.api.local import Churnguard
from churnguard.api.model import DEFAULT_ALIAS, DEFAULT_MODEL, default_tracking_uri, from_directory, from_registry
from churnguard.api.results import (
    Dependencies,
    Explanation,
    FeatureChange,
    FeatureReplay,
    Health,
    NewCustomerPrediction,
    Prediction,
    ScenarioAnalysis,
    ScenarioTotal,
)
from churnguard.api.rows import BatchTable, OnlineStore

BATCH_FEATURES = "data/features/customers.parquet"  # serving.batch_features' default, under CHURNGUARD_HOME
SIGNING_KEY_ENV = "CHURNGUARD_MODEL_SIGNING_KEY"


def load(
    model: str | Path = DEFAULT_MODEL,
    *,
    alias: str | None = None,
    version: str | int | None = None,
    tracking_uri: str | None = None,
    batch_features: str | Path | pd.DataFrame | None = BATCH_FEATURES,
    redis_url: str | None = None,
    redis_prefix: str = "cg:user:",
    out_of_bounds: Literal["reject", "flag"] = "reject",
    bounds_margin: float = 0.5,
    require_digest: bool = True,
) -> Churnguard:
    """Load one model version into this process, once; returns the in-process client.

    ``model``: a registered model name (with ``alias``, default ``champion``, or ``version``), a URI
    ``models:/<name>@<alias>`` or ``models:/<name>/<version>``, or a bundle directory (a workspace's
    ``models/``: a ``Path``, or a string with a ``/``). ``batch_features``: the feature table rows are looked up in (a parquet path relative
    to ``CHURNGUARD_HOME``, a DataFrame, or None for request features only); the default table is
    skipped when absent. ``redis_url``: also merge the streaming job's online features.
    ``out_of_bounds``/``bounds_margin``: serving's rule for request values outside the training range.
    """
    loaded = _load_model(model, alias, version, tracking_uri, require_digest)
    return Churnguard(
        loaded,
        _batch_table(batch_features),
        OnlineStore(redis_url, redis_prefix) if redis_url else None,
        out_of_bounds=out_of_bounds,
        bounds_margin=bounds_margin,
    )


def connect(url: str, api_key: str | None = None, timeout: float = 30.0) -> HttpClient:
    """The HTTP client of a running ``churnguard serve`` (``api_key`` default: ``$CHURNGUARD_API_KEY``)."""
    return HttpClient(url, api_key=api_key, timeout=timeout)


def _load_model(model, alias, version, tracking_uri, require_digest):
    if alias is not None and version is not None:
        raise InvalidInput.one("version", "give alias= or version=, not both")
    text = str(model)
    if text.startswith("models:/"):
        name, at, ref = text.removeprefix("models:/").partition("@")
        if not at:
            name, _, ref = name.partition("/")
        alias, version = (ref, None) if at else (None, ref or version)
        model = name
    elif isinstance(model, Path) or "/" in text or text.startswith((".", "~")):
        return from_directory(Path(text).expanduser())
    uri = tracking_uri or default_tracking_uri()
    alias = alias if alias is not None or version is not None else DEFAULT_ALIAS
    return from_registry(str(model), alias, version, uri, require_digest, os.environ.get(SIGNING_KEY_ENV))


def _batch_table(source: str | Path | pd.DataFrame | None) -> BatchTable:
    from churnguard.core.config import resolve

    if source is None:
        return BatchTable()
    if isinstance(source, pd.DataFrame):
        return BatchTable(source, source="DataFrame")
    return BatchTable.read(resolve(source), required=str(source) != BATCH_FEATURES)


# the top-level names (components/__init__.py, listed there once: ``import churnguard`` must not import this
# package to know them), and the default batch table's path; mypy reads the imported __all__ too
__all__ = ["BATCH_FEATURES", *__all__]
