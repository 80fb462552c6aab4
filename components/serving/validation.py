"""Request validation beyond the pydantic schema, and error bodies that never echo hostile input.

- Every validation error is a 422 whose ``detail[]`` names the field (``loc``), says why
  (``msg``) and shows at most a short ``input_preview`` of the value (never the value itself:
  a NaN or a 10 MB string cannot break or bloat the answer); at most ``MAX_ERRORS`` are listed.
- Request feature values are checked against the model: known feature, right kind, and inside
  the training range widened by ``serving.validation.bounds_margin`` (bounds recorded by the
  features stage, ``FeatureSchema.bounds``); out of range -> 422, or listed in the answer's
  ``out_of_bounds`` when ``serving.validation.out_of_bounds: flag``.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from typing import Any

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

MAX_ERRORS = 20
PREVIEW_CHARS = 40
_short = reprlib.Repr()  # bounded repr: a huge value costs no more than a short one
_short.maxstring = _short.maxother = PREVIEW_CHARS
_short.maxlist = _short.maxdict = 4
_short.maxlevel = 2
FASTAPI_PARSE_ERROR = "There was an error parsing the body"  # FastAPI's 400 for bodies json cannot decode


def preview(value: Any) -> str:
    text = _short.repr(value)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def error(loc: Iterable[Any], msg: str, kind: str = "value_error", value: Any = None) -> dict[str, Any]:
    out = {"loc": [x if isinstance(x, int) else str(x)[:64] for x in loc], "msg": str(msg)[:300], "type": kind}
    if value is not None:
        out["input_preview"] = preview(value)
    return out


def unprocessable(errors: list[dict[str, Any]]) -> RequestValidationError:
    return RequestValidationError(errors)


def safe_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pydantic/FastAPI errors -> bounded, JSON-safe ones (the raw input is never copied)."""
    out = []
    for e in errors[:MAX_ERRORS]:
        if "input_preview" in e:  # already ours
            out.append(e)
            continue
        value = e.get("input")
        out.append(
            error(
                e.get("loc", ()),
                e.get("msg", "invalid"),
                str(e.get("type", "value_error")),
                value if value not in (None, {}) else None,
            )
        )
    return out


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Registered for RequestValidationError (Starlette types every handler with ``Exception``)."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    request.app.state.serving.metrics.rejected.labels("validation").inc()
    return JSONResponse({"detail": safe_errors(errors), "error_count": len(errors)}, status_code=422)


async def http_error(request: Request, exc: Exception) -> Response:
    """Registered for HTTPException. FastAPI answers 400 when ``json`` raises on a body (e.g. nesting deeper than the parser's
    recursion limit): that is invalid input like any other, so 422 naming the body."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == FASTAPI_PARSE_ERROR:
        request.app.state.serving.metrics.rejected.labels("validation").inc()
        body = [
            error(["body"], "the body is not parseable JSON (nesting too deep or invalid encoding)", "json_invalid")
        ]
        return JSONResponse({"detail": body, "error_count": 1}, status_code=422)
    return await http_exception_handler(request, exc)


def accepted_ranges(bounds: dict[str, tuple[float, float]], margin: float) -> dict[str, tuple[float, float]]:
    """Training [min, max] widened by ``margin`` x the range on each side; a feature never negative
    in training stays >= 0 (a negative age or tenure is impossible, not unusual)."""
    out = {}
    for name, (lo, hi) in bounds.items():
        span = (hi - lo) or (abs(hi) or 1.0)
        low = lo - margin * span
        out[name] = (max(low, 0.0) if lo >= 0 else low, hi + margin * span)
    return out


def check_value(
    model: Any, ranges: dict[str, tuple[float, float]], loc: list, name: str, value: Any
) -> tuple[dict[str, Any] | None, bool]:
    """(error or None, out of bounds) for one request feature value."""
    if name in model.categorical:
        if not isinstance(value, str):
            return error(loc, f"feature {name!r} is categorical: send a string", value=value), False
        return None, False
    if isinstance(value, str):
        return error(loc, f"feature {name!r} is numeric: send a number", value=value), False
    low, high = ranges.get(name, (None, None))
    if low is not None and not low <= value <= high:
        return error(
            loc,
            f"feature {name!r} = {value:g} is outside the accepted range [{low:g}, {high:g}] "
            "(training range plus serving.validation.bounds_margin)",
            "out_of_bounds",
            value,
        ), True
    return None, False
