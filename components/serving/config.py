"""Serving configuration: the ``serving:`` section of params.yaml, overridable from the environment.

Environment overrides (the environment wins over params.yaml):

- ``CHURNGUARD_API_KEYS``: comma-separated API keys (added to ``serving.auth.api_keys``).
- ``CHURNGUARD_REDIS_URL``: the online store (``serving.redis.url``).
- ``CHURNGUARD_MODEL_URI``: pin a model URI instead of following the alias (no polling then).
- ``MLFLOW_TRACKING_URI``: the registry (see :mod:`components.registry`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config import ROOT, load_params

DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 8000,
    "model_name": "churnguard",
    "alias": "champion",
    "poll_interval_s": 10.0,
    "batch_features": "data/features/customers.parquet",
    "max_batch": 1000,
    "redis": {"url": "redis://127.0.0.1:6379/0", "prefix": "cg:user:", "timeout_ms": 25,
              "failure_threshold": 3, "reset_after_s": 5.0},
    "auth": {"api_keys": []},
    "rate_limit": {"per_second": 100.0, "burst": 200},
    "math_threads": 1,
    "micro_batch_rows": 1024,
}


@dataclass
class ServingConfig:
    host: str = DEFAULTS["host"]
    port: int = DEFAULTS["port"]
    model_name: str = DEFAULTS["model_name"]
    alias: str = DEFAULTS["alias"]
    model_uri: str | None = None                     # pinned URI: no alias following
    poll_interval_s: float = DEFAULTS["poll_interval_s"]
    batch_features: Path = field(default_factory=lambda: ROOT / DEFAULTS["batch_features"])
    max_batch: int = DEFAULTS["max_batch"]
    redis_url: str | None = DEFAULTS["redis"]["url"]  # None: no online store (always batch features)
    redis_prefix: str = DEFAULTS["redis"]["prefix"]
    redis_timeout_ms: float = DEFAULTS["redis"]["timeout_ms"]
    breaker_failures: int = DEFAULTS["redis"]["failure_threshold"]
    breaker_reset_s: float = DEFAULTS["redis"]["reset_after_s"]
    api_keys: tuple[str, ...] = ()
    rate_per_s: float = DEFAULTS["rate_limit"]["per_second"]
    rate_burst: int = DEFAULTS["rate_limit"]["burst"]
    math_threads: int | None = DEFAULTS["math_threads"]   # threadpoolctl limit; None leaves it alone
    micro_batch_rows: int = DEFAULTS["micro_batch_rows"]   # 0: no micro-batching of concurrent predicts

    @classmethod
    def from_params(cls, params_path: Path | None = None, env: dict[str, str] | None = None,
                    **overrides: Any) -> "ServingConfig":
        env = dict(os.environ if env is None else env)
        params = load_params(params_path) if (params_path or (ROOT / "params.yaml").exists()) else {}
        raw = _merge(DEFAULTS, params.get("serving") or {})
        path = Path(raw["batch_features"])
        keys = [str(k) for k in raw["auth"].get("api_keys") or []]
        keys += [k.strip() for k in env.get("CHURNGUARD_API_KEYS", "").split(",") if k.strip()]
        cfg = cls(
            host=str(raw["host"]), port=int(raw["port"]), model_name=str(raw["model_name"]),
            alias=str(raw["alias"]), model_uri=env.get("CHURNGUARD_MODEL_URI") or raw.get("model_uri"),
            poll_interval_s=float(raw["poll_interval_s"]),
            batch_features=path if path.is_absolute() else ROOT / path,
            max_batch=int(raw["max_batch"]),
            redis_url=env.get("CHURNGUARD_REDIS_URL", raw["redis"].get("url")) or None,
            redis_prefix=str(raw["redis"]["prefix"]), redis_timeout_ms=float(raw["redis"]["timeout_ms"]),
            breaker_failures=int(raw["redis"]["failure_threshold"]),
            breaker_reset_s=float(raw["redis"]["reset_after_s"]),
            api_keys=tuple(dict.fromkeys(keys)),
            rate_per_s=float(raw["rate_limit"]["per_second"]), rate_burst=int(raw["rate_limit"]["burst"]),
            math_threads=int(raw["math_threads"]) if raw.get("math_threads") else None,
            micro_batch_rows=int(raw.get("micro_batch_rows") or 0),
        )
        for k, v in overrides.items():
            if not hasattr(cfg, k):
                raise TypeError(f"unknown serving option {k!r}")
            setattr(cfg, k, v)
        return cfg


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
