"""The FastAPI application. ``create_app(config)`` builds it; ``churnguard serve`` runs it."""
from __future__ import annotations

import asyncio
import gc
import logging
import math
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from components import columns
from components.serving.batcher import MicroBatcher
from components.serving.config import ServingConfig
from components.serving.features import BatchFeatures, OnlineFeatures
from components.serving.holder import LoadedModel, ModelHolder
from components.serving.schemas import (CustomerOffers, ErrorDetail, ExplainResponse, Health, InterventionsRequest,
                                        InterventionsResponse, MissingPart, ModelInfo, Offer, Prediction,
                                        PredictRequest, PredictResponse)
from components.serving.security import KeyRing, RateLimiter

log = logging.getLogger("churnguard.serving")
API_VERSION = "1"
KNOWN = {"churn_probability", "base_probability", "coldstart_probability", "coldstart_source", "protection_verdict",
         "anomaly_score", "attack_type", "recommended_action", "hardened_probability"}
ONLINE_SCORE = "rt_churn_probability"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("churnguard_requests_total", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram("churnguard_request_seconds", "HTTP request latency", ["route"], registry=r,
                                 buckets=(.001, .0025, .005, .0075, .01, .015, .025, .05, .1, .25, .5, 1, 2.5))
        self.rows = Counter("churnguard_scored_rows_total", "customers scored", ["endpoint"], registry=r)
        self.degraded = Counter("churnguard_degraded_total", "answers without online features", registry=r)
        self.version = Gauge("churnguard_model_version", "model version being served", registry=r)
        self.swaps = Counter("churnguard_model_swaps_total", "model versions swapped in", registry=r)
        self.breaker = Gauge("churnguard_redis_breaker_open", "1 while the Redis circuit breaker is not closed (open or half-open)", registry=r)
        self.load_seconds = Gauge("churnguard_model_load_seconds", "load time of the current version", registry=r)


class ObserveMiddleware:
    """Count and time every HTTP request by route template (plain ASGI: no per-request task)."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(path, scope["method"], str(status[0])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - t0)


@dataclass
class State:
    config: ServingConfig
    holder: ModelHolder
    batch: BatchFeatures
    online: OnlineFeatures
    keys: KeyRing
    limiter: RateLimiter
    metrics: Metrics


def _num(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) or math.isinf(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _unprocessable(loc: list, msg: str) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": tuple(loc), "msg": msg, "input": None}])


@dataclass
class RequestRows:
    """One request's merged feature rows (:mod:`components.columns`), per-row metadata, degraded flag."""

    cols: columns.Columns
    n: int
    meta: list[dict]
    degraded: bool

    def frame(self) -> pd.DataFrame:
        return columns.to_frame(self.cols)


def build_rows(state: State, model: LoadedModel, req: PredictRequest) -> RequestRows:
    """Merge batch < online < request features per customer; validate request fields against the model."""
    if len(req.customers) > state.config.max_batch:
        raise _unprocessable(["body", "customers"], f"at most {state.config.max_batch} customers per request")
    allowed = model.feature_set | state.batch.names   # a few µs: both sets are built once
    for i, c in enumerate(req.customers):
        for name, value in c.features.items():
            loc = ["body", "customers", i, "features", name]
            if name not in allowed:
                raise _unprocessable(loc, f"unknown feature {name!r}: not a feature of model v{model.version}")
            if value is None:
                continue
            if name in model.categorical and not isinstance(value, str):
                raise _unprocessable(loc, f"feature {name!r} is categorical: send a string")
            if name not in model.categorical and isinstance(value, str):
                raise _unprocessable(loc, f"feature {name!r} is numeric: send a number")
    online_rows, degraded = state.online.fetch([c.customer_id for c in req.customers])
    rows, meta, unknown = [], [], []
    for c, online in zip(req.customers, online_rows):
        batch = state.batch.get(c.customer_id)
        row: dict[str, Any] = batch or {}
        used_online = {k: v for k, v in online.items() if k in allowed}
        row.update(used_online)
        row.update(c.features)
        if not batch and not used_online and not c.features:
            unknown.append(c.customer_id)
        row["customer_id"] = c.customer_id
        if c.referral_ids is not None:
            row["referral_ids"] = list(c.referral_ids)
        rows.append(row)
        rt = online.get(ONLINE_SCORE)
        meta.append({"sources": {"batch": batch is not None, "online_fields": len(used_online),
                                 "request_fields": len(c.features)},
                     "realtime_probability": rt if isinstance(rt, float) else None})
    if unknown:
        raise HTTPException(404, detail={"msg": "unknown customer ids: no batch row, no online features and no "
                                                "request features", "customer_ids": unknown[:50]})
    if degraded:
        state.metrics.degraded.inc()
    return RequestRows(columns.from_records(rows), len(rows), meta, degraded)


def create_app(config: ServingConfig | None = None, holder: ModelHolder | None = None,
               batch: BatchFeatures | None = None, start_holder: bool = True) -> FastAPI:
    """The serving app. Pass a started ``holder`` (tests) or let the lifespan start one."""
    from components.registry import tracking_uri

    config = config or ServingConfig.from_params()
    if config.math_threads:
        # One BLAS/OpenMP thread per process: single-row scoring gains nothing from more and, on a
        # shared box, thread oversubscription costs milliseconds per request. Scale with processes.
        from threadpoolctl import threadpool_limits

        threadpool_limits(config.math_threads)
        import torch   # its intra-op pool is not covered by threadpoolctl (GNN scatter: 1 ms -> 50 ms)

        torch.set_num_threads(config.math_threads)
    metrics = Metrics()

    def on_swap(old, new) -> None:
        # The loaded model is long-lived: move it out of the collector's generations so that
        # full collections (milliseconds with a bundle in memory) stay off the request path.
        gc.collect()
        gc.freeze()
        metrics.swaps.inc()
        try:
            metrics.version.set(float(new.version))
        except ValueError:
            pass
        metrics.load_seconds.set(new.load_seconds)

    if holder is None:
        holder = ModelHolder(tracking_uri(), config.model_name, config.alias, config.poll_interval_s,
                             pinned_uri=config.model_uri, on_swap=on_swap)
    else:
        holder._on_swap = holder._on_swap or on_swap
        if holder.current is not None:
            on_swap(None, holder.current)
    state = State(config=config, holder=holder,
                  batch=batch if batch is not None else BatchFeatures(config.batch_features),
                  online=OnlineFeatures(config.redis_url, config.redis_prefix, config.redis_timeout_ms,
                                        config.breaker_failures, config.breaker_reset_s),
                  keys=KeyRing(config.api_keys), limiter=RateLimiter(config.rate_per_s, config.rate_burst),
                  metrics=metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if start_holder and holder.current is None and holder._thread is None:
            holder.start(wait=True)
        yield
        if start_holder:
            holder.stop()

    app = FastAPI(title="churnguard serving", version=API_VERSION, lifespan=lifespan,
                  description="Churn scores, counterfactual explanations and ranked retention offers from the "
                              "MLflow champion. Every /v1 route needs an API key (header X-API-Key).")
    app.state.serving = state
    batcher = MicroBatcher(config.micro_batch_rows) if config.micro_batch_rows else None
    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key from CHURNGUARD_API_KEYS")

    async def require_key(request: Request, key: str | None = Security(api_key_header)) -> str:
        if key is None:
            auth = request.headers.get("authorization", "")
            if auth[:7].lower() == "bearer ":
                key = auth[7:].strip()
        valid = state.keys.check(key)
        if valid is None:
            raise HTTPException(401, "missing or invalid API key (send header X-API-Key)",
                                headers={"WWW-Authenticate": "ApiKey"})
        ok, wait = state.limiter.acquire(valid)
        if not ok:
            raise HTTPException(429, f"rate limit of {state.config.rate_per_s:g}/s (burst {state.config.rate_burst}) "
                                     "exceeded for this key", headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return valid

    def current_model() -> LoadedModel:
        model = holder.current   # one snapshot per request: the whole answer comes from this version
        if model is None:
            raise HTTPException(503, "no model loaded yet", headers={"Retry-After": "5"})
        return model

    app.add_middleware(ObserveMiddleware, metrics=metrics)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # logged; the body says nothing internal
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"detail": "internal error (logged)"}, status_code=500)

    errors = {401: {"model": ErrorDetail, "description": "missing or invalid API key"},
              422: {"description": "invalid request; `detail[].loc` names the field"},
              429: {"model": ErrorDetail, "description": "rate limit exceeded for this key"},
              404: {"model": ErrorDetail, "description": "unknown customer ids"},
              503: {"model": ErrorDetail, "description": "no model loaded yet"}}

    @app.post("/v1/predict", response_model=PredictResponse, responses=errors, tags=["v1"],
              summary="Churn probability of one customer or a batch, with each part's output")
    async def predict(req: PredictRequest, _key: str = Depends(require_key)) -> Response:
        # async: the event loop only parses and answers; the Redis lookup and scoring run in the
        # micro-batcher's thread (one hand-off per request, no threadpool hop).
        model = current_model()
        prepare = partial(build_rows, state, model, req)
        if batcher:
            rows, scores = await asyncio.wrap_future(batcher.submit(model, prepare))
        else:
            rows = await run_in_threadpool(prepare)
            scores = await run_in_threadpool(model.bundle.predict_columns, rows.cols, rows.n)
        metrics.rows.labels("predict").inc(rows.n)
        names = list(scores)
        values = [scores[k].tolist() for k in names]
        out = []
        for i in range(rows.n):
            rec = {k: _num(v[i]) for k, v in zip(names, values)}
            known = {k: rec[k] for k in KNOWN if k in rec}
            other = {k: v for k, v in rec.items() if k not in KNOWN}
            out.append(Prediction(customer_id=req.customers[i].customer_id, other=other, **known, **rows.meta[i]))
        body = PredictResponse(model_version=model.version, parts=list(model.parts), degraded=rows.degraded,
                               predictions=out)
        return Response(body.model_dump_json(), media_type="application/json")   # validated above, encoded once

    def needs_part(model: LoadedModel, name: str) -> Any:
        part = model.part(name)
        if part is None:
            raise HTTPException(409, detail={
                "msg": f"model version {model.version} has no {name!r} part (loaded parts: "
                       f"{', '.join(model.parts)}); it arrives when a version with that part is champion",
                "missing_part": name, "model_version": model.version, "parts": list(model.parts)})
        return part

    missing = {409: {"model": MissingPart, "description": "the served version lacks the 'interventions' part"}}

    @app.post("/v1/explain", response_model=ExplainResponse, responses={**errors, **missing}, tags=["v1"],
              summary="Counterfactual explanation: the smallest feature changes that flip the prediction")
    def explain(req: PredictRequest, _key: str = Depends(require_key)) -> ExplainResponse:
        model = current_model()
        part = needs_part(model, "interventions")
        rows = build_rows(state, model, req)
        result = part.explain(rows.frame())
        metrics.rows.labels("explain").inc(rows.n)
        return ExplainResponse(model_version=model.version, degraded=rows.degraded,
                               explanations=[_jsonable(e) for e in result])

    @app.post("/v1/interventions", response_model=InterventionsResponse, responses={**errors, **missing},
              tags=["v1"], summary="Retention offers ranked by net value, with uplift confidence bounds")
    def interventions(req: InterventionsRequest, _key: str = Depends(require_key)) -> InterventionsResponse:
        model = current_model()
        part = needs_part(model, "interventions")
        rows = build_rows(state, model, req)
        table = part.recommend(rows.frame())
        metrics.rows.labels("interventions").inc(rows.n)
        by_customer: dict[str, list[Offer]] = {c.customer_id: [] for c in req.customers}
        if len(table):
            table = table.sort_values(["customer_id", "rank"])
            for rec in table.to_dict("records"):
                offers = by_customer.setdefault(str(rec["customer_id"]), [])
                if len(offers) < req.top_k:
                    clean = {k: _num(v) for k, v in rec.items() if k != "customer_id"}
                    clean["rank"] = int(clean["rank"])
                    offers.append(Offer(**clean))
        return InterventionsResponse(model_version=model.version, degraded=rows.degraded,
                                     customers=[CustomerOffers(customer_id=k, offers=v) for k, v in by_customer.items()])

    @app.get("/health", response_model=Health, responses={503: {"model": Health, "description": "no model loaded"}},
             tags=["ops"], summary="Model version, loaded parts, dependencies (no key needed)")
    def health():
        model = holder.current
        redis_state = state.online.status()
        metrics.breaker.set(1.0 if redis_state in ("down", "degraded") else 0.0)
        deps = {"registry": {True: "up", False: "down", None: "unknown"}[holder.registry_ok],
                "redis": redis_state,
                "batch_features": "up" if len(state.batch) else ("down" if state.batch.error else "disabled")}
        status = "loading" if model is None else ("ok" if all(v in ("up", "disabled") for v in deps.values())
                                                  else "degraded")
        body = Health(status=status, dependencies=deps, last_error=holder.last_error or state.online.last_error,
                      model=ModelInfo(name=holder.model_name, alias=holder.alias,
                                      version=model.version if model else None, uri=model.uri if model else None,
                                      parts=list(model.parts) if model else [],
                                      loaded_at=model.loaded_at if model else None, swaps=holder.swaps))
        return JSONResponse(body.model_dump(), status_code=200 if model else 503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics (no key needed)",
             response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    def prometheus() -> Response:
        metrics.breaker.set(1.0 if state.online.status() in ("down", "degraded") else 0.0)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    return _num(obj)
