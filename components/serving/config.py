"""Serving configuration: the ``serving:`` section of services.yaml as frozen dataclasses.

The defaults are written here, once; services.yaml lists only what a deployment changes (every
key and its default: docs/serving.md). :func:`ServingConfig.from_params` builds the whole tree
with :func:`churnguard.core.config.build`, so an unknown, missing or mistyped key stops the start
with its dotted name (``serving.redis.timout_ms (did you mean 'timeout_ms'?)``).

Environment overrides (the environment wins over services.yaml; explicit overrides win over both):

- ``CHURNGUARD_API_KEYS``: comma-separated API keys (added to ``serving.auth.api_keys``).
- ``CHURNGUARD_REDIS_URL``: the online store (``serving.redis.url``).
- ``CHURNGUARD_MODEL_URI``: pin a model URI instead of following the alias (no polling then).
- ``MLFLOW_TRACKING_URI``: the registry (see :mod:`churnguard.mlops.registry`).
- ``CHURNGUARD_MODEL_SIGNING_KEY``: when set, a version must also carry the HMAC of its artifact
  digest made with this key (``churnguard.artifact_hmac``, written by the register stage). A secret:
  only the environment may set it, never the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from churnguard.core.config import ConfigError, build, deep_merge, resolve, service_section
from churnguard.mlops.promotion import EvidenceSettings


@dataclass(frozen=True)
class RedisSettings:
    """The online store (components/core/online_store.py) behind a circuit breaker."""

    url: str | None = "redis://127.0.0.1:6379/0"  # None or "": no online store (batch features only)
    prefix: str = "cg:user:"
    timeout_ms: float = 25.0  # slower than this counts as a failure
    failure_threshold: int = 3  # consecutive failures that open the breaker
    reset_after_s: float = 5.0  # open -> half-open (one trial call)


@dataclass(frozen=True)
class AuthSettings:
    api_keys: tuple[str, ...] = ()  # plus CHURNGUARD_API_KEYS from the environment
    failed_per_second: float = 1.0  # failed-key attempts per client address: a burst, then this rate
    failed_burst: int = 20


@dataclass(frozen=True)
class RateLimitSettings:
    """Token bucket per API key, per serving process."""

    per_second: float = 100.0
    burst: int = 200


@dataclass(frozen=True)
class ValidationSettings:
    out_of_bounds: Literal["reject", "flag"] = "reject"  # reject (422) | flag (scored, listed)
    bounds_margin: float = 0.5  # share of the training [min, max] range added on each side
    required_features: tuple[str, ...] | str = ()  # must have a value after merging; "all" = every model feature

    def __post_init__(self) -> None:
        if isinstance(self.required_features, str):  # one name, or "all"
            object.__setattr__(self, "required_features", (self.required_features,))


@dataclass(frozen=True)
class IntegritySettings:
    require_digest: bool = True  # refuse versions without a matching churnguard.artifact_sha256 tag


@dataclass(frozen=True)
class ChallengerSettings:
    """Champion/challenger traffic (docs/serving.md, "Champion and challenger").

    ``shadow``: the challenger scores every predicted customer in a separate, lower-priority process
    (off the hot path); answers always come from the champion; both scores go to the arm log.
    ``ab``: a sticky share of customers (by a hash of the customer id) is answered by the challenger;
    the served score of every customer goes to the arm log. ``none``: the champion only.
    """

    mode: Literal["none", "shadow", "ab"] = "none"
    alias: str = "challenger"
    ab_share: float = 0.1  # share of customers answered by the challenger in ab mode
    ab_salt: str = "churnguard-ab"  # a new salt draws a new split (a new experiment)
    log_dir: str = ".run/serving/arms"  # arm log (JSON lines), relative to CHURNGUARD_HOME (git-ignored)
    queue_size: int = 10_000  # requests waiting for the shadow scorer; beyond: dropped and counted
    poll_interval_s: float = 10.0  # registry poll of the challenger alias
    evidence: EvidenceSettings = field(default_factory=EvidenceSettings)  # what `churnguard promote` demands

    def __post_init__(self) -> None:
        if not 0.0 <= self.ab_share <= 1.0:
            raise ConfigError(f"serving.challenger.ab_share must be within [0, 1], not {self.ab_share}")
        if self.queue_size < 1:
            raise ConfigError(f"serving.challenger.queue_size must be >= 1, not {self.queue_size}")


@dataclass(frozen=True)
class ServingConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    model_name: str = "churnguard"
    alias: str = "champion"
    model_uri: str | None = None  # pinned URI: no alias following (CHURNGUARD_MODEL_URI)
    poll_interval_s: float = 10.0  # registry poll; a new champion is loaded in the background, then swapped
    batch_features: str = "data/features/customers.parquet"  # loaded once, indexed by customer_id
    max_batch: int = 1000
    max_body_bytes: int = 2_000_000  # larger request bodies: 413, never buffered
    math_threads: int = 1  # BLAS/OpenMP/torch threads per process (0: leave them alone)
    micro_batch_rows: int = 1024  # concurrent predicts scored in one call (up to this many rows); 0 = off
    redis: RedisSettings = field(default_factory=RedisSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    rate_limit: RateLimitSettings = field(default_factory=RateLimitSettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    integrity: IntegritySettings = field(default_factory=IntegritySettings)
    challenger: ChallengerSettings = field(default_factory=ChallengerSettings)
    signing_key: str | None = None  # CHURNGUARD_MODEL_SIGNING_KEY (environment only)

    @classmethod
    def from_params(
        cls,
        services_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> ServingConfig:
        """services.yaml ``serving:`` < environment < ``overrides`` (a nested mapping like the section)."""
        env = os.environ if env is None else env
        section = dict(service_section("serving", services_path))
        if "signing_key" in section:
            raise ConfigError("serving.signing_key: a secret, set it in CHURNGUARD_MODEL_SIGNING_KEY, not in a file")
        merged = deep_merge(deep_merge(section, _from_environment(section, env)), dict(overrides or {}))
        return build(cls, merged, "serving")

    @property
    def batch_features_path(self) -> Path:
        return resolve(self.batch_features)

    @property
    def arm_log_dir(self) -> Path:
        return resolve(self.challenger.log_dir)

    @property
    def redis_url(self) -> str | None:
        return self.redis.url or None

    def with_(self, **changes: Any) -> ServingConfig:
        return replace(self, **changes)


def _from_environment(section: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    extra_keys = [k.strip() for k in env.get("CHURNGUARD_API_KEYS", "").split(",") if k.strip()]
    if extra_keys:
        keys = [str(k) for k in (section.get("auth") or {}).get("api_keys") or []]
        out["auth"] = {"api_keys": list(dict.fromkeys(keys + extra_keys))}
    if "CHURNGUARD_REDIS_URL" in env:
        out["redis"] = {"url": env["CHURNGUARD_REDIS_URL"] or None}
    if env.get("CHURNGUARD_MODEL_URI"):
        out["model_uri"] = env["CHURNGUARD_MODEL_URI"]
    if env.get("CHURNGUARD_MODEL_SIGNING_KEY"):
        out["signing_key"] = env["CHURNGUARD_MODEL_SIGNING_KEY"]
    return out
