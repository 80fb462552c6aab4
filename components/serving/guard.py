"""The trust boundary in front of every ``/v1`` route, before a byte of the body is read.

Order, cheapest first, all before FastAPI parses anything:

1. a client (address) throttled for failed API-key attempts -> 429 + ``Retry-After``;
2. a missing or unknown API key -> 401 (and one failed attempt for the client);
3. the key's rate limit -> 429 + ``Retry-After``;
4. the body: a declared ``Content-Length`` over ``max_body_bytes`` -> 413 at once; otherwise
   the body is streamed and reading stops as soon as it passes the limit -> 413. At most
   ``max_body_bytes`` are ever buffered.

Refusals close the connection (``Connection: close``): the unread body is not drained.
The key is handed to the routes in ``scope["state"]["api_key"]``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from churnguard.serving.security import presented_key

HTTP_TOO_LARGE = 413


class RequestGuard:
    def __init__(self, app, state: Any):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        refusal, headers = self._admit(scope)
        if refusal is not None:
            return await reply(send, refusal[0], refusal[1], headers)
        body = await read_limited(receive, self.state.config.max_body_bytes, headers)
        if body is None:
            self.state.metrics.rejected.labels("body_too_large").inc()
            return await reply(
                send,
                HTTP_TOO_LARGE,
                f"request body larger than {self.state.config.max_body_bytes} bytes (serving.max_body_bytes)",
                {},
            )
        if body is Disconnected:
            return None
        await self.app(scope, replay(body, receive), send)

    def _admit(self, scope) -> tuple[tuple[int, str] | None, dict[str, str]]:
        """(status, message) of a refusal or None; the request headers (lower-case names)."""
        state = self.state
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client = (scope.get("client") or ("unknown",))[0]
        wait = state.auth_throttle.blocked(client)
        if wait is not None:
            state.metrics.auth_throttled.inc()
            return (429, "too many failed API-key attempts from this client"), {"retry-after": _seconds(wait)}
        key = state.keys.check(presented_key(headers))
        if key is None:
            state.auth_throttle.failed(client)
            state.metrics.auth_failures.inc()
            return (401, "missing or invalid API key (send header X-API-Key)"), {"www-authenticate": "ApiKey"}
        ok, wait = state.limiter.acquire(key)
        if not ok:
            return (
                429,
                f"rate limit of {state.config.rate_limit.per_second:g}/s (burst {state.config.rate_limit.burst}) exceeded for this key",
            ), {"retry-after": _seconds(wait)}
        scope.setdefault("state", {})["api_key"] = key
        return None, headers


class Disconnected:
    """Marker: the client went away while sending the body."""


async def read_limited(receive, limit: int, headers: dict[str, str]) -> bytes | type[Disconnected] | None:
    """The whole body, or None as soon as it is (or declares to be) larger than ``limit``."""
    declared = headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive):
    """A ``receive`` that hands the app the already-read body once, then the real channel (disconnects)."""
    sent = False

    async def receive_again():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


async def reply(send, status: int, detail: str, headers: dict[str, str]) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]  # the body was not (fully) read: do not reuse the connection
    raw += [(k.encode(), v.encode()) for k, v in headers.items() if k in ("retry-after", "www-authenticate")]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _seconds(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
