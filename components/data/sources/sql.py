"""SQL source: any SQLAlchemy URL, a table (optionally in a schema) or a query, read in chunks.

Credentials never live in params: ``data.sql.url_env`` names an environment variable holding the
URL (with its password); ``data.sql.url`` may hold a URL *without* a password (e.g. trust or
peer authentication, or a password supplied by the driver from ~/.pgpass). Rows are streamed
(server-side cursor where the driver has one) ``chunksize`` at a time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd


def sql_url(cfg: dict[str, Any], environ: Mapping[str, str] | None = None) -> str:
    """The connection URL: from the env var named by ``url_env`` if set there, else ``url``."""
    from sqlalchemy.engine import make_url

    env: Mapping[str, str] = os.environ if environ is None else environ
    env_name = cfg.get("url_env")
    if env_name and env.get(env_name):
        return env[env_name]
    url = cfg.get("url")
    if not url:
        raise ValueError(
            f"data.sql: set the environment variable {env_name or '(data.sql.url_env)'} to a "
            "SQLAlchemy URL, or data.sql.url to a URL without a password"
        )
    if make_url(url).password:
        raise ValueError(
            "data.sql.url contains a password: params are committed, so put the URL in the "
            f"environment variable named by data.sql.url_env ({env_name or 'not set'}) instead"
        )
    return url


def select_statement(cfg: dict[str, Any]):
    """``query`` as given, or ``SELECT * FROM schema.table`` with quoted identifiers."""
    import sqlalchemy as sa

    if cfg.get("query") and cfg.get("table"):
        raise ValueError("data.sql: set either table or query, not both")
    if cfg.get("query"):
        return sa.text(cfg["query"])
    if not cfg.get("table"):
        raise ValueError("data.sql: set data.sql.table (optionally data.sql.schema) or data.sql.query")
    return sa.select(sa.text("*")).select_from(sa.table(cfg["table"], schema=cfg.get("schema")))


def read_sql_table(
    cfg: dict[str, Any], root: Path | None = None, environ: dict[str, str] | None = None
) -> pd.DataFrame:
    import sqlalchemy as sa

    engine = sa.create_engine(sql_url(cfg, environ))
    chunksize = int(cfg.get("chunksize") or 50_000)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(stream_results=True)
            chunks = list(pd.read_sql(select_statement(cfg), conn, chunksize=chunksize))
    finally:
        engine.dispose()
    if not chunks:
        raise ValueError("data.sql: the table or query returned no columns")
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
