"""The HTTP routes (one APIRouter); the app's shared state is ``request.app.state.serving``.

The API key, its rate limit and the body limit are enforced by :mod:`churnguard.serving.guard`
before any of this runs; ``require_key`` only documents the scheme in OpenAPI and hands the key on.
Each scoring route is one span (:mod:`churnguard.core.telemetry`) carrying the model version, the
parts run, the row count and whether the answer is degraded.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Literal, TypeVar

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from churnguard.core.telemetry import tracer
from churnguard.core.vocabulary import NAMED_SCORES
from churnguard.serving.holder import LoadedModel
from churnguard.serving.rows import build_rows
from churnguard.serving.schemas import (
    ChallengerInfo,
    CustomerOffers,
    ErrorDetail,
    ExplainResponse,
    Health,
    InterventionsRequest,
    InterventionsResponse,
    MissingPart,
    ModelInfo,
    Offer,
    Prediction,
    PredictRequest,
    PredictResponse,
)
from churnguard.serving.traffic import Arm, merge_arm_scores, take_rows

KNOWN = frozenset(NAMED_SCORES)
router = APIRouter()
F = TypeVar("F", bound=Callable[..., Any])
_tracer = tracer(__name__)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key from CHURNGUARD_API_KEYS")
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "missing or invalid API key"},
    413: {"model": ErrorDetail, "description": "body larger than serving.max_body_bytes"},
    422: {"description": "invalid request; `detail[].loc` names the field, `input_preview` a short preview"},
    429: {"model": ErrorDetail, "description": "rate limit of this key, or too many failed keys from this client"},
    404: {"model": ErrorDetail, "description": "unknown customer ids"},
    503: {"model": ErrorDetail, "description": "no model loaded yet"},
}
MISSING: dict[int | str, dict[str, Any]] = {
    409: {"model": MissingPart, "description": "the served version lacks the 'interventions' part"}
}


def _v1_route(path: str, response_model: type, summary: str, parts_missing: bool = False) -> Callable[[F], F]:
    """A ``/v1`` scoring route: POST, tagged v1, with the shared error answers (and 409 when the route needs
    the served version's interventions part)."""
    return router.post(
        path,
        response_model=response_model,
        responses={**ERRORS, **MISSING} if parts_missing else ERRORS,
        tags=["v1"],
        summary=summary,
    )


def serving(request: Request) -> Any:
    return request.app.state.serving


async def require_key(request: Request, _header: str | None = Security(api_key_header)) -> str:
    key = request.scope.get("state", {}).get("api_key")
    if key is None:  # the guard admits only keyed requests; reaching here without one is a wiring bug
        raise HTTPException(401, "missing or invalid API key (send header X-API-Key)")
    return key


def current_model(state: Any) -> LoadedModel:
    model = state.holder.current  # one snapshot per request: the whole answer comes from this version
    if model is None:
        raise HTTPException(503, "no model loaded yet", headers={"Retry-After": "5"})
    return model


def needs_part(model: LoadedModel, name: str) -> Any:
    part = model.part(name)
    if part is None:
        raise HTTPException(
            409,
            detail={
                "msg": f"model version {model.version} has no {name!r} part (loaded parts: "
                f"{', '.join(model.parts)}); it arrives when a version with that part is champion",
                "missing_part": name,
                "model_version": model.version,
                "parts": list(model.parts),
            },
        )
    return part


def _span_attributes(span, model: LoadedModel, rows, route: str, arms: list[Arm] | None = None) -> None:
    if span.is_recording():
        span.set_attributes(
            {
                "churnguard.route": route,
                "churnguard.model_version": model.version,
                "churnguard.parts": list(model.parts),
                "churnguard.rows": rows.n,
                "churnguard.degraded": rows.degraded,
                "churnguard.unevaluated_parts": list(model.unevaluated),
                "churnguard.arms": [a.name for a in arms] if arms else ["champion"],
                "churnguard.arm_versions": [a.model.version for a in arms] if arms else [model.version],
            }
        )


async def score(state: Any, model: LoadedModel, req: PredictRequest):
    """(rows, scores): the Redis lookup and scoring run in the micro-batcher's thread (one hand-off)."""
    prepare = partial(build_rows, state, model, req)
    if state.batcher:
        return await asyncio.wrap_future(state.batcher.submit(model, prepare))
    rows = await run_in_threadpool(prepare)
    return rows, await run_in_threadpool(model.bundle.predict_columns, rows.cols, rows.n)


async def score_arms(state: Any, champion: LoadedModel, req: PredictRequest, arms: list[Arm]):
    """A batch split across A/B arms: rows merged and checked once (against the champion), each arm's rows
    scored by its model, the score columns put back in request order."""
    rows = await run_in_threadpool(build_rows, state, champion, req)
    parts = []
    for arm in arms:
        cols = take_rows(rows.cols, arm.positions)
        parts.append(
            (arm.positions, await run_in_threadpool(arm.model.bundle.predict_columns, cols, len(arm.positions)))
        )
    return rows, merge_arm_scores(rows.n, parts)


def predictions(req: PredictRequest, rows, scores: dict[str, np.ndarray], arms: list[Arm]) -> list[Prediction]:
    names = list(scores)
    values = [scores[k].tolist() for k in names]
    arm_of = {i: arm for arm in arms for i in arm.positions}
    out = []
    for i in range(rows.n):
        rec = {k: _num(v[i]) for k, v in zip(names, values)}
        known = {k: rec[k] for k in KNOWN if k in rec}
        other = {k: v for k, v in rec.items() if k not in KNOWN}
        arm = arm_of[i]
        out.append(
            Prediction(
                customer_id=req.customers[i].customer_id,
                arm=arm.name,
                model_version=arm.model.version,
                other=other,
                **known,
                **rows.meta[i],
            )
        )
    return out


@_v1_route("/v1/predict", PredictResponse, "Churn probability of one customer or a batch, with each part's output")
async def predict(req: PredictRequest, request: Request, _key: str = Depends(require_key)) -> Response:
    state = serving(request)
    with _tracer.start_as_current_span("churnguard.predict") as span:
        champion = current_model(state)
        ids = [c.customer_id for c in req.customers]
        arms = state.traffic.assign(champion, ids)
        model = arms[0].model if len(arms) == 1 else champion  # the answer's version; split batches: per customer
        t0 = time.perf_counter()
        rows, scores = await (score(state, model, req) if len(arms) == 1 else score_arms(state, champion, req, arms))
        state.traffic.record(champion, arms, ids, rows, scores, time.perf_counter() - t0)
        _span_attributes(span, model, rows, "predict", arms)
        state.metrics.rows.labels("predict").inc(rows.n)
        state.metrics.observe_scores(scores)
        body = PredictResponse(
            model_version=model.version,
            parts=list(model.parts),
            degraded=rows.degraded,
            unevaluated_parts=list(model.unevaluated),
            predictions=predictions(req, rows, scores, arms),
        )
        return Response(body.model_dump_json(), media_type="application/json")  # validated above, encoded once


@_v1_route(
    "/v1/explain",
    ExplainResponse,
    "Counterfactual explanation: the smallest feature changes that flip the prediction",
    parts_missing=True,
)
def explain(req: PredictRequest, request: Request, _key: str = Depends(require_key)) -> ExplainResponse:
    answer, result = _run_interventions_part(serving(request), req, "explain", lambda part, frame: part.explain(frame))
    return ExplainResponse(**answer, explanations=[_jsonable(e) for e in result])


@_v1_route(
    "/v1/interventions",
    InterventionsResponse,
    "Retention offers ranked by net value, with uplift confidence bounds",
    parts_missing=True,
)
def interventions(
    req: InterventionsRequest, request: Request, _key: str = Depends(require_key)
) -> InterventionsResponse:
    answer, table = _run_interventions_part(
        serving(request), req, "interventions", lambda part, frame: part.recommend(frame)
    )
    return InterventionsResponse(**answer, customers=offers_by_customer(req, table))


def _run_interventions_part(state, req, endpoint: str, call):
    """One traced call of the interventions part on the request's rows: (the answer's common fields, result)."""
    with _tracer.start_as_current_span(f"churnguard.{endpoint}") as span:
        model = current_model(state)
        part = needs_part(model, "interventions")
        rows = build_rows(state, model, req)
        _span_attributes(span, model, rows, endpoint)
        result = call(part, rows.frame())
        state.metrics.rows.labels(endpoint).inc(rows.n)
        answer = {
            "model_version": model.version,
            "degraded": rows.degraded,
            "unevaluated_parts": list(model.unevaluated),
            "imputed_features": _imputed(req, rows),
        }
        return answer, result


def offers_by_customer(req: InterventionsRequest, table) -> list[CustomerOffers]:
    by_customer: dict[str, list[Offer]] = {c.customer_id: [] for c in req.customers}
    if len(table):
        table = table.sort_values(["customer_id", "rank"])
        for rec in table.to_dict("records"):
            offers = by_customer.setdefault(str(rec["customer_id"]), [])
            if len(offers) < req.top_k:
                clean = {k: _num(v) for k, v in rec.items() if k != "customer_id"}
                clean["rank"] = int(clean["rank"])
                offers.append(Offer(**clean))
    return [CustomerOffers(customer_id=k, offers=v) for k, v in by_customer.items()]


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "no model loaded"}},
    tags=["ops"],
    summary="Model version, loaded parts, dependencies (no key needed)",
)
def health(request: Request):
    state = serving(request)
    holder, model = state.holder, state.holder.current
    redis_state = state.online.probe()  # a trial ping when the breaker allows one: recovers without traffic
    state.metrics.breaker.set(1.0 if redis_state in ("down", "degraded") else 0.0)
    deps = {
        "registry": {True: "up", False: "down", None: "unknown"}[holder.registry_ok],
        "redis": redis_state,
        "batch_features": "up" if len(state.batch) else ("down" if state.batch.error else "disabled"),
    }
    healthy = all(v in ("up", "disabled") for v in deps.values()) and holder.refused_version is None
    status: Literal["ok", "degraded", "loading"] = "loading" if model is None else ("ok" if healthy else "degraded")
    info = ModelInfo(
        name=holder.model_name,
        alias=holder.alias,
        version=model.version if model else None,
        uri=model.uri if model else None,
        parts=list(model.parts) if model else [],
        loaded_at=model.loaded_at if model else None,
        swaps=holder.swaps,
        unevaluated_parts=list(model.unevaluated) if model else [],
        refused_version=holder.refused_version,
        refused_reason=holder.refused_reason,
    )
    body = Health(
        status=status,
        dependencies=deps,
        model=info,
        challenger=ChallengerInfo(**state.traffic.info()),
        last_error=holder.last_error or state.online.last_error,
    )
    return JSONResponse(body.model_dump(), status_code=200 if model else 503)


@router.get(
    "/metrics",
    tags=["ops"],
    summary="Prometheus metrics (no key needed)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def prometheus(request: Request) -> Response:
    state = serving(request)
    state.metrics.breaker.set(1.0 if state.online.status() in ("down", "degraded") else 0.0)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _imputed(req: PredictRequest, rows) -> dict[str, list[str]]:
    return {c.customer_id: m["imputed_features"] for c, m in zip(req.customers, rows.meta)}


def _num(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) or math.isinf(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    return _num(obj)
