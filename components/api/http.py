"""The HTTP client: the same calls against a running ``churnguard serve`` (docs/serving.md routes).

Requests are the routes' JSON bodies, answers are turned into the same frames and dataclasses as the
in-process client's (:mod:`churnguard.api.results`), and serving's error statuses into the same
exceptions (a 422's ``loc`` becomes the dotted field). Batches larger than serving's ``max_batch`` are
sent in chunks. ``online_features`` has no route: it runs the streaming logic in this process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import httpx
import pandas as pd

from churnguard.api import errors
from churnguard.api.base import ChurnguardAPI
from churnguard.api.inputs import Customer
from churnguard.api.results import (
    PROBABILITY_FLOATS,
    PROBABILITY_TEXTS,
    Dependencies,
    Explanation,
    Health,
    RowInfo,
    Scored,
    row_info,
)
from churnguard.api.tables import explanations, offers_frame
from churnguard.core.vocabulary import ID

API_KEY_ENV = "CHURNGUARD_API_KEY"
MAX_BATCH = 1000  # serving.max_batch's default


class HttpClient(ChurnguardAPI):
    """The API on a running ``churnguard serve`` at ``url`` (see :class:`~churnguard.api.base.ChurnguardAPI`)."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0, max_batch: int = MAX_BATCH):
        key = api_key or os.environ.get(API_KEY_ENV)
        self.url, self.max_batch = url.rstrip("/"), int(max_batch)
        headers = {"X-API-Key": key} if key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    # --- transport ------------------------------------------------------------------------------------
    def _post(self, path: str, customers: Sequence[Customer], **extra: Any) -> list[dict[str, Any]]:
        """One answer body per chunk of at most ``max_batch`` customers."""
        return [
            self._call("POST", path, json={"customers": [_body(c) for c in chunk], **extra})
            for chunk in (customers[i : i + self.max_batch] for i in range(0, len(customers), self.max_batch))
        ]

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise errors.ServiceError(0, f"cannot reach {self.url}{path}: {exc}") from exc
        if response.status_code == 200 or (path == "/health" and response.status_code == 503):
            return response.json()
        raise_for(response)
        raise AssertionError("unreachable")  # raise_for always raises for a non-200 answer

    # --- the primitives -------------------------------------------------------------------------------
    def _score(self, customers: list[Customer]) -> list[Scored]:
        out = []
        for body in self._post("/v1/predict", customers):
            preds = body["predictions"]
            ids = [p[ID] for p in preds]
            info = _info(preds)
            out.append(Scored(ids, _scores(preds), info, body["model_version"], body["degraded"], tuple(body["parts"])))
        return out

    def _offers(self, customers: list[Customer], top_k: int) -> pd.DataFrame:
        frames = []
        for body in self._post("/v1/interventions", customers, top_k=top_k):
            records = [{ID: c[ID], **offer} for c in body["customers"] for offer in c["offers"]]
            frames.append(offers_frame(records, body["model_version"]))
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def _explain(self, customers: list[Customer]) -> list[Explanation]:
        out: list[Explanation] = []
        for body in self._post("/v1/explain", customers):
            out += explanations(body["explanations"], body.get("imputed_features", {}), body["model_version"])
        return out

    def health(self) -> Health:
        body = self._call("GET", "/health")
        model, deps = body["model"], body.get("dependencies", {})
        return Health(
            status=body["status"],
            model_name=model["name"],
            alias=model.get("alias"),
            version=model.get("version"),
            uri=model.get("uri"),
            parts=tuple(model.get("parts", ())),
            unevaluated_parts=tuple(model.get("unevaluated_parts", ())),
            dependencies=Dependencies(
                registry=deps.get("registry", "unknown"),
                redis=deps.get("redis", "unknown"),
                batch_features=deps.get("batch_features", "unknown"),
            ),
            last_error=body.get("last_error"),
        )

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"HttpClient({self.url})"


def _body(c: Customer) -> dict[str, Any]:
    body: dict[str, Any] = {"customer_id": c.customer_id}
    if c.features:
        body["features"] = dict(c.features)
    if c.referral_ids is not None:
        body["referral_ids"] = list(c.referral_ids)
    return body


def _scores(preds: list[dict[str, Any]]) -> dict[str, Any]:
    """Score columns of a /v1/predict answer: the named fields, then the other parts' (``other``)."""
    scores: dict[str, Any] = {
        k: [p.get(k) for p in preds] for k in (*PROBABILITY_FLOATS, *PROBABILITY_TEXTS) if any(k in p for p in preds)
    }
    for name in dict.fromkeys(k for p in preds for k in p.get("other", {})):
        scores[name] = [p.get("other", {}).get(name) for p in preds]
    return scores


def _info(preds: list[dict[str, Any]]) -> RowInfo:
    sources = [p.get("sources", {}) for p in preds]
    return row_info(
        [bool(s.get("batch")) for s in sources],
        [int(s.get("online_fields", 0)) for s in sources],
        [int(s.get("request_fields", 0)) for s in sources],
        [tuple(p.get("imputed_features", ())) for p in preds],
        [tuple(p.get("out_of_bounds", ())) for p in preds],
        [p.get("realtime_probability") for p in preds],
    )


def dotted(loc: Sequence[Any]) -> str:
    """``["body", "customers", 0, "features", "age"]`` -> ``customers[0].features.age``."""
    out = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def raise_for(response: httpx.Response) -> None:
    """The API's exception for a serving error answer."""
    status = response.status_code
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text[:300]
    retry = response.headers.get("Retry-After")
    if status == 422 and isinstance(detail, list):
        fields = [errors.FieldError(dotted(e.get("loc", ())), str(e.get("msg", "invalid"))) for e in detail]
        raise errors.InvalidInput(fields, total=response.json().get("error_count"))
    if status == 404 and isinstance(detail, dict) and "customer_ids" in detail:
        raise errors.UnknownCustomers(detail["customer_ids"])
    if status == 409 and isinstance(detail, dict) and "missing_part" in detail:
        raise errors.MissingPart(detail["missing_part"], detail.get("model_version"), detail.get("parts", ()))
    if status == 413:
        raise errors.InvalidInput.one("body", f"larger than the service accepts ({detail})")
    if status == 401:
        raise errors.Unauthorized(status, f"{detail} (pass api_key= or set {API_KEY_ENV})")
    if status == 429:
        raise errors.RateLimited(status, str(detail), float(retry) if retry else None)
    if status == 503:
        raise errors.ModelUnavailable(f"{response.request.url}: {detail}")
    raise errors.ServiceError(status, str(detail)[:300], float(retry) if retry and retry.isdigit() else None)
