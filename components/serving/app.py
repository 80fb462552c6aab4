"""The FastAPI application. ``create_app(config)`` builds it; ``churnguard serve`` runs it.

Layers, outside in: :class:`~churnguard.serving.metrics.ObserveMiddleware` (counts and times
every request), :class:`~churnguard.serving.guard.RequestGuard` (failed-key throttle, API key,
rate limit, body limit: before the body is read), then the routes
(:mod:`churnguard.serving.routes`) with error handlers that never echo hostile input
(:mod:`churnguard.serving.validation`).
"""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from churnguard.mlops.registry import tracking_uri
from churnguard.serving.batcher import MicroBatcher
from churnguard.serving.config import ServingConfig
from churnguard.serving.features import BatchFeatures, OnlineFeatures
from churnguard.serving.guard import RequestGuard
from churnguard.serving.holder import ModelHolder, limit_math_threads, load_version
from churnguard.serving.metrics import Metrics, ObserveMiddleware
from churnguard.serving.routes import router
from churnguard.serving.security import FailedAuthThrottle, KeyRing, RateLimiter
from churnguard.serving.traffic import Traffic
from churnguard.serving.validation import http_error, validation_error

log = logging.getLogger("churnguard.serving")
API_VERSION = "1"


@dataclass
class State:
    config: ServingConfig
    holder: ModelHolder
    batch: BatchFeatures
    online: OnlineFeatures
    keys: KeyRing
    limiter: RateLimiter
    auth_throttle: FailedAuthThrottle
    metrics: Metrics
    traffic: Traffic
    batcher: MicroBatcher | None = None
    ranges: dict[str, Any] = field(default_factory=dict)  # model uri -> accepted feature ranges


def model_events(metrics: Metrics) -> tuple[Any, Any, Any]:
    """(on_swap, on_refuse, on_fail) callbacks of the holder, feeding the metrics."""

    def on_swap(old, new) -> None:
        # The loaded model is long-lived: move it out of the collector's generations so that
        # full collections (milliseconds with a bundle in memory) stay off the request path.
        gc.collect()
        gc.freeze()
        metrics.swaps.inc()
        metrics.refused_version.set(0)
        try:
            metrics.version.set(float(new.version))
        except ValueError:
            pass
        metrics.load_seconds.set(new.load_seconds)
        if new.registered_at:
            metrics.registered_at.set(new.registered_at)

    def on_refuse(version: str, reason: str) -> None:
        metrics.refused.inc()
        try:
            metrics.refused_version.set(float(version))
        except ValueError:
            pass

    return on_swap, on_refuse, lambda version, reason: metrics.load_failures.inc()


def make_holder(config: ServingConfig, holder: ModelHolder | None, metrics: Metrics) -> ModelHolder:
    on_swap, on_refuse, on_fail = model_events(metrics)
    if holder is None:
        loader = partial(load_version, require_digest=config.integrity.require_digest, signing_key=config.signing_key)
        return ModelHolder(
            tracking_uri(),
            config.model_name,
            config.alias,
            config.poll_interval_s,
            pinned_uri=config.model_uri,
            loader=loader,
            on_swap=on_swap,
            on_refuse=on_refuse,
            on_fail=on_fail,
        )
    holder._on_swap = holder._on_swap or on_swap
    holder._on_refuse = holder._on_refuse or on_refuse
    holder._on_fail = holder._on_fail or on_fail
    if holder.current is not None:
        on_swap(None, holder.current)
    return holder


def make_state(config: ServingConfig, holder: ModelHolder | None, batch: BatchFeatures | None) -> State:
    metrics = Metrics()
    redis = config.redis
    champion = make_holder(config, holder, metrics)
    return State(
        config=config,
        holder=champion,
        batch=batch if batch is not None else BatchFeatures(config.batch_features_path),
        online=OnlineFeatures(
            config.redis_url, redis.prefix, redis.timeout_ms, redis.failure_threshold, redis.reset_after_s
        ),
        keys=KeyRing(config.auth.api_keys),
        limiter=RateLimiter(config.rate_limit.per_second, config.rate_limit.burst),
        auth_throttle=FailedAuthThrottle(config.auth.failed_per_second, config.auth.failed_burst),
        metrics=metrics,
        traffic=Traffic(config, metrics, champion.tracking_uri),  # the challenger: same registry
        batcher=MicroBatcher(config.micro_batch_rows) if config.micro_batch_rows else None,
    )


def create_app(
    config: ServingConfig | None = None,
    holder: ModelHolder | None = None,
    batch: BatchFeatures | None = None,
    start_holder: bool = True,
) -> FastAPI:
    """The serving app. Pass a started ``holder`` (tests) or let the lifespan start one."""
    config = config or ServingConfig.from_params()
    limit_math_threads(config.math_threads)
    state = make_state(config, holder, batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if start_holder and state.holder.current is None and state.holder._thread is None:
            state.holder.start(wait=True)
        state.traffic.start()  # the challenger (A/B holder or shadow process), when configured
        yield
        state.traffic.stop()
        if start_holder:
            state.holder.stop()

    app = FastAPI(
        title="churnguard serving",
        version=API_VERSION,
        lifespan=lifespan,
        description="Churn scores, counterfactual explanations and ranked retention offers from the "
        "MLflow champion. Every /v1 route needs an API key (header X-API-Key).",
    )
    app.state.serving = state
    app.add_middleware(RequestGuard, state=state)  # inner: runs after ObserveMiddleware started timing
    app.add_middleware(ObserveMiddleware, metrics=state.metrics)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    app.include_router(router)
    return app


async def unexpected(request: Request, exc: Exception):  # logged; the body says nothing internal
    log.exception("unhandled error on %s", request.url.path)
    return JSONResponse({"detail": "internal error (logged)"}, status_code=500)
