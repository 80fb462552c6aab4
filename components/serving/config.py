"""Serving configuration: the ``serving:`` section of services.yaml, overridable from the environment.

Environment overrides (the environment wins over params.yaml):

- ``CHURNGUARD_API_KEYS``: comma-separated API keys (added to ``serving.auth.api_keys``).
- ``CHURNGUARD_REDIS_URL``: the online store (``serving.redis.url``).
- ``CHURNGUARD_MODEL_URI``: pin a model URI instead of following the alias (no polling then).
- ``MLFLOW_TRACKING_URI``: the registry (see :mod:`churnguard.mlops.registry`).
- ``CHURNGUARD_MODEL_SIGNING_KEY``: when set, a version must also carry the HMAC of its artifact
  digest made with this key (``churnguard.artifact_hmac``, written by the register stage).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from churnguard.core.config import ROOT, service_section

DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 8000,
    "model_name": "churnguard",
    "alias": "champion",
    "poll_interval_s": 10.0,
    "batch_features": "data/features/customers.parquet",
    "max_batch": 1000,
    "redis": {
        "url": "redis://127.0.0.1:6379/0",
        "prefix": "cg:user:",
        "timeout_ms": 25,
        "failure_threshold": 3,
        "reset_after_s": 5.0,
    },
    "auth": {"api_keys": [], "failed_per_second": 1.0, "failed_burst": 20},
    "rate_limit": {"per_second": 100.0, "burst": 200},
    "max_body_bytes": 2_000_000,
    "validation": {"out_of_bounds": "reject", "bounds_margin": 0.5, "required_features": []},
    "integrity": {"require_digest": True},
    "math_threads": 1,
    "micro_batch_rows": 1024,
}


@dataclass
class ServingConfig:
    host: str = DEFAULTS["host"]
    port: int = DEFAULTS["port"]
    model_name: str = DEFAULTS["model_name"]
    alias: str = DEFAULTS["alias"]
    model_uri: str | None = None  # pinned URI: no alias following
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
    math_threads: int | None = DEFAULTS["math_threads"]  # threadpoolctl limit; None leaves it alone
    micro_batch_rows: int = DEFAULTS["micro_batch_rows"]  # 0: no micro-batching of concurrent predicts
    auth_fail_per_s: float = DEFAULTS["auth"]["failed_per_second"]  # failed-key attempts per client IP
    auth_fail_burst: int = DEFAULTS["auth"]["failed_burst"]
    max_body_bytes: int = DEFAULTS["max_body_bytes"]  # larger request bodies: 413, never buffered
    out_of_bounds: str = DEFAULTS["validation"]["out_of_bounds"]  # reject (422) | flag (scored, listed)
    bounds_margin: float = DEFAULTS["validation"]["bounds_margin"]  # share of the training range added each side
    required_features: tuple[str, ...] = ()  # "all" = every model feature; missing -> 422
    require_digest: bool = DEFAULTS["integrity"]["require_digest"]  # refuse versions without a matching digest
    signing_key: str | None = None  # CHURNGUARD_MODEL_SIGNING_KEY

    @classmethod
    def from_params(
        cls, services_path: Path | None = None, env: dict[str, str] | None = None, **overrides: Any
    ) -> ServingConfig:
        env = dict(os.environ if env is None else env)
        raw = _merge(DEFAULTS, service_section("serving", services_path))
        path = Path(raw["batch_features"])
        keys = [str(k) for k in raw["auth"].get("api_keys") or []]
        keys += [k.strip() for k in env.get("CHURNGUARD_API_KEYS", "").split(",") if k.strip()]
        cfg = cls(
            host=str(raw["host"]),
            port=int(raw["port"]),
            model_name=str(raw["model_name"]),
            alias=str(raw["alias"]),
            model_uri=env.get("CHURNGUARD_MODEL_URI") or raw.get("model_uri"),
            poll_interval_s=float(raw["poll_interval_s"]),
            batch_features=path if path.is_absolute() else ROOT / path,
            max_batch=int(raw["max_batch"]),
            redis_url=env.get("CHURNGUARD_REDIS_URL", raw["redis"].get("url")) or None,
            redis_prefix=str(raw["redis"]["prefix"]),
            redis_timeout_ms=float(raw["redis"]["timeout_ms"]),
            breaker_failures=int(raw["redis"]["failure_threshold"]),
            breaker_reset_s=float(raw["redis"]["reset_after_s"]),
            api_keys=tuple(dict.fromkeys(keys)),
            rate_per_s=float(raw["rate_limit"]["per_second"]),
            rate_burst=int(raw["rate_limit"]["burst"]),
            math_threads=int(raw["math_threads"]) if raw.get("math_threads") else None,
            micro_batch_rows=int(raw.get("micro_batch_rows") or 0),
            auth_fail_per_s=float(raw["auth"].get("failed_per_second", DEFAULTS["auth"]["failed_per_second"])),
            auth_fail_burst=int(raw["auth"].get("failed_burst", DEFAULTS["auth"]["failed_burst"])),
            max_body_bytes=int(raw["max_body_bytes"]),
            out_of_bounds=_choice(raw["validation"]["out_of_bounds"], ("reject", "flag"), "validation.out_of_bounds"),
            bounds_margin=float(raw["validation"]["bounds_margin"]),
            required_features=_names(raw["validation"].get("required_features")),
            require_digest=bool(raw["integrity"]["require_digest"]),
            signing_key=env.get("CHURNGUARD_MODEL_SIGNING_KEY") or None,
        )
        for k, v in overrides.items():
            if not hasattr(cfg, k):
                raise TypeError(f"unknown serving option {k!r}")
            setattr(cfg, k, v)
        return cfg


def _choice(value: Any, allowed: tuple[str, ...], key: str) -> str:
    if str(value) not in allowed:
        raise ValueError(f"serving.{key} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _names(value: Any) -> tuple[str, ...]:
    """required_features: a list of names, or "all" (every feature of the served model)."""
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
