"""The click event on the wire: versioned JSON, validated field by field.

Version 1 (``"v": 1``), one JSON object per Kafka message, keyed by ``user_id`` so one user's
events stay ordered in one partition::

    {"v": 1, "event_id": 17, "user_id": "C0000042", "session_id": 3, "event_type": "click",
     "ts": 1782777600000, "page": "product", "cart_value": 120.5}

The fields are those of ``components.world.EVENT_SCHEMA`` (the events parquet) plus ``v``.
An event that is not JSON, has another version, misses a field or has a wrong type/value is
*invalid*: the job sends it to the dead-letter topic with the reason (:class:`InvalidEvent`).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import orjson

SCHEMA_VERSION = 1
EVENT_TYPES = ("page_view", "click", "add_to_cart", "remove_from_cart", "checkout")
PAGES = ("home", "product", "search", "cart", "account", "support", "cancel")
FIELDS = ("event_id", "user_id", "session_id", "event_type", "ts", "page", "cart_value")
_TYPES = frozenset(EVENT_TYPES)
_PAGES = frozenset(PAGES)
JSON_SCHEMA: dict[str, Any] = {  # documentation / external validators; validate() below is the authority
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "churnguard click event", "type": "object",
    "required": ["v", *FIELDS],
    "properties": {
        "v": {"const": SCHEMA_VERSION},
        "event_id": {"type": "integer", "minimum": 0},
        "user_id": {"type": "string", "minLength": 1},
        "session_id": {"type": "integer", "minimum": 0},
        "event_type": {"enum": list(EVENT_TYPES)},
        "ts": {"type": "integer", "minimum": 1, "description": "event time, epoch milliseconds"},
        "page": {"enum": list(PAGES)},
        "cart_value": {"type": "number", "minimum": 0, "description": "cart total after this event"},
    },
}


class Event(NamedTuple):
    event_id: int
    user_id: str
    session_id: int
    event_type: str
    ts: int
    page: str
    cart_value: float


class InvalidEvent(ValueError):
    """Why an event was rejected (the dead-letter reason)."""


def _int(d: dict, name: str) -> int:
    v = d.get(name)
    if type(v) is not int:  # bool is not an int here
        raise InvalidEvent(f"field {name!r} must be an integer, got {type(v).__name__}" if name in d
                           else f"missing field {name!r}")
    if v < 0:
        raise InvalidEvent(f"field {name!r} must be >= 0, got {v}")
    return v


def validate(obj: Any) -> Event:
    """Check a decoded event against schema version 1; raise :class:`InvalidEvent` with the reason."""
    if not isinstance(obj, dict):
        raise InvalidEvent(f"event must be a JSON object, got {type(obj).__name__}")
    if obj.get("v") != SCHEMA_VERSION:
        raise InvalidEvent(f"unsupported schema version {obj.get('v')!r} (expected {SCHEMA_VERSION})")
    user = obj.get("user_id")
    if type(user) is not str or not user:
        raise InvalidEvent("missing field 'user_id'" if "user_id" not in obj else "field 'user_id' must be a non-empty string")
    etype, page = obj.get("event_type"), obj.get("page")
    if etype not in _TYPES:
        raise InvalidEvent(f"field 'event_type' must be one of {list(EVENT_TYPES)}, got {etype!r}")
    if page not in _PAGES:
        raise InvalidEvent(f"field 'page' must be one of {list(PAGES)}, got {page!r}")
    cart = obj.get("cart_value")
    if type(cart) not in (int, float):
        raise InvalidEvent("missing field 'cart_value'" if "cart_value" not in obj
                           else f"field 'cart_value' must be a number, got {type(cart).__name__}")
    if not math.isfinite(cart) or cart < 0:
        raise InvalidEvent(f"field 'cart_value' must be a finite number >= 0, got {cart!r}")
    ts = _int(obj, "ts")
    if ts == 0:
        raise InvalidEvent("field 'ts' must be > 0 (epoch milliseconds)")
    return Event(_int(obj, "event_id"), user, _int(obj, "session_id"), etype, ts, page, float(cart))


_FLOAT, _INT, _new = float, int, tuple.__new__


def decode(raw: bytes | None) -> Event:
    """Bytes from Kafka -> validated :class:`Event` (or :class:`InvalidEvent`).

    Fast path: one combined check of a well-formed event; anything else goes through
    :func:`validate`, which names the first failing field.
    """
    if raw is None:
        raise InvalidEvent("empty message (no value)")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    try:
        eid, user, sid, etype = obj["event_id"], obj["user_id"], obj["session_id"], obj["event_type"]
        ts, page, cart = obj["ts"], obj["page"], obj["cart_value"]
        if (obj["v"] == SCHEMA_VERSION and type(eid) is _INT and eid >= 0 and type(user) is str and user
                and type(sid) is _INT and sid >= 0 and etype in _TYPES and type(ts) is _INT and ts > 0
                and page in _PAGES and type(cart) is _FLOAT and 0.0 <= cart < math.inf):
            return _new(Event, (eid, user, sid, etype, ts, page, cart))
    except (KeyError, TypeError):
        pass
    return validate(obj)


def encode(event_id: int, user_id: str, session_id: int, event_type: str, ts: int, page: str,
           cart_value: float) -> bytes:
    return orjson.dumps({"v": SCHEMA_VERSION, "event_id": int(event_id), "user_id": user_id,
                         "session_id": int(session_id), "event_type": event_type, "ts": int(ts),
                         "page": page, "cart_value": float(cart_value)})
