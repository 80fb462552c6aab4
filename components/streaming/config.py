"""The ``streaming:`` section of services.yaml as a frozen dataclass, with environment overrides.

Built once per process by :meth:`StreamingConfig.from_params` through
:func:`churnguard.core.config.build`: an unknown key (with the closest known one), a mistyped value
or an inconsistent pair of settings stops the job with the dotted key to fix.

Environment (wins over the file): ``CHURNGUARD_KAFKA_BOOTSTRAP``, ``CHURNGUARD_REDIS_URL``,
``CHURNGUARD_KAFKA_CLIENT`` (confluent | kafka-python), ``CHURNGUARD_MODEL_URI``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from churnguard.core.config import ConfigError, build
from churnguard.core.online_store import DEFAULT_PREFIX

SECTION = "streaming"
ENV = {
    "bootstrap_servers": "CHURNGUARD_KAFKA_BOOTSTRAP",
    "redis_url": "CHURNGUARD_REDIS_URL",
    "client": "CHURNGUARD_KAFKA_CLIENT",
    "model_uri": "CHURNGUARD_MODEL_URI",
}


@dataclass(frozen=True)
class StreamingConfig:
    bootstrap_servers: str = "127.0.0.1:9092"
    client: Literal["confluent", "kafka-python"] = "confluent"
    events_topic: str = "events"
    scores_topic: str = "scores"
    dead_letter_topic: str = "events.dlq"
    partitions: int = 4  # used when the project creates the topics
    group_id: str = "churnguard-features"
    session_timeout_ms: int = 6000  # Tansu joins after ~half of it (docs/stack.md)
    redis_url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = DEFAULT_PREFIX
    ttl_s: int = 7 * 86400
    window_s: float = 60.0  # click-velocity sliding window (event time)
    allowed_lateness_s: float = 60.0  # late/out-of-order rule, see features.py
    # Event-time guards against the job's wall clock (0 = off, e.g. to replay history as is):
    max_future_skew_s: float = 60.0  # ts later than now + this -> dead letter "future"
    max_event_age_s: float = 7 * 86400.0  # ts older than now - this -> dead letter "too_old"
    dead_letter_preview_bytes: int = 256  # first bytes of a refused payload kept on its dead letter
    session_retention_s: float = 1800.0
    batch_size: int = 5000  # max events per micro-batch
    batch_timeout_ms: int = 20  # max wait to fill a micro-batch
    score: bool = True  # real-time churn score per micro-batch
    model_uri: str = "models:/churnguard@champion"
    batch_features: str = "data/features/customers.parquet"
    metrics_port: int = 0  # 0: no HTTP endpoint (metrics still collected)
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 in a container so Prometheus can scrape it
    tracing: bool = False  # OpenTelemetry span per micro-batch
    extra: dict[str, Any] = field(default_factory=dict)  # extra confluent-kafka (librdkafka) settings

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError("; ".join(problems))

    @classmethod
    def from_params(cls, section: Mapping[str, Any] | None = None, **overrides: Any) -> StreamingConfig:
        """The section (services.yaml's when None), then the environment, then ``overrides`` (None: not given)."""
        if section is None:
            from churnguard.core.config import service_section

            section = service_section(SECTION)
        values = dict(section or {})
        values.update({name: os.environ[var] for name, var in ENV.items() if os.environ.get(var)})
        values.update({k: v for k, v in overrides.items() if v is not None})
        return build(cls, values, SECTION)

    def problems(self) -> list[str]:
        """Settings that cannot work together, each naming its key."""
        out = []
        if not self.key_prefix.endswith(":"):
            out.append(f"{SECTION}.key_prefix must end with ':' (got {self.key_prefix!r}); see online_store.py")
        # An accepted event at most `skew` ahead of the clock then makes the user's next real
        # events at most `skew` older than the watermark: they stay on time only if skew <= lateness.
        if self.max_future_skew_s and self.max_future_skew_s > self.allowed_lateness_s:
            out.append(
                f"{SECTION}.max_future_skew_s ({self.max_future_skew_s}) must be <= allowed_lateness_s "
                f"({self.allowed_lateness_s}): else one early event makes that user's next events late"
            )
        for name in ("partitions", "batch_size", "session_timeout_ms", "ttl_s"):
            if getattr(self, name) < 1:
                out.append(f"{SECTION}.{name} must be at least 1 (got {getattr(self, name)})")
        return out

    def with_(self, **changes: Any) -> StreamingConfig:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
