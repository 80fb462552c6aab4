"""The click event on the wire: versioned JSON, validated field by field.

Version 1 (``"v": 1``), one JSON object per Kafka message, keyed by ``user_id`` so one user's
events stay ordered in one partition::

    {"v": 1, "event_id": 17, "user_id": "C0000042", "session_id": 3, "event_type": "click",
     "ts": 1782777600000, "page": "product", "cart_value": 120.5}

The fields are those of ``churnguard.world.EVENT_SCHEMA`` (the events parquet) plus ``v``.
An event that is not JSON, has another version, misses a field or has a wrong type/value is
*invalid*: the job sends it to the dead-letter topic with the reason (:class:`InvalidEvent`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from churnguard.core.online_store import USER_ID_MAX_LEN, user_id_ok, user_id_problem

SCHEMA_VERSION = 1
EVENT_TYPES = ("page_view", "click", "add_to_cart", "remove_from_cart", "checkout")
PAGES = ("home", "product", "search", "cart", "account", "support", "cancel")
FIELDS = ("event_id", "user_id", "session_id", "event_type", "ts", "page", "cart_value")
_TYPES = frozenset(EVENT_TYPES)
_PAGES = frozenset(PAGES)
JSON_SCHEMA: dict[str, Any] = {  # documentation / external validators; validate() below is the authority
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "churnguard click event",
    "type": "object",
    "required": ["v", *FIELDS],
    "properties": {
        "v": {"type": "integer", "const": SCHEMA_VERSION},
        "event_id": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "user_id": {"type": "string", "pattern": "^[A-Za-z0-9_.@+-]{1,128}$"},
        "session_id": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "event_type": {"enum": list(EVENT_TYPES)},
        "ts": {
            "type": "integer",
            "minimum": 946_684_800_000,
            "exclusiveMaximum": 4_102_444_800_000,
            "description": "event time, epoch milliseconds (2000-01-01 .. 2100-01-01)",
        },
        "page": {"enum": list(PAGES)},
        "cart_value": {
            "type": "number",
            "minimum": 0,
            "exclusiveMaximum": 1e12,
            "description": "cart total after this event",
        },
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


MAX_EVENT_BYTES = 64 * 1024  # a click event is ~200 bytes; anything this big is refused unparsed


INT64_MAX = 2**63 - 1
# Absolute event-time sanity bounds, whatever the job's clock checks (config) say: refuses ts = 1,
# 2^63 or year 9999 even when replaying history with the clock checks off.
TS_MIN_MS = 946_684_800_000  # 2000-01-01
TS_MAX_MS = 4_102_444_800_000  # 2100-01-01
_SHOW = 60  # characters of a refused value shown in a reason (reasons stay small)


def cut(text: str) -> str:
    """A text cut to a few dozen characters (reasons, and so dead letters, stay small)."""
    return text if len(text) <= _SHOW else f"{text[:_SHOW]}... ({len(text)} characters)"


def show(value: Any) -> str:
    """repr of a refused value, cut (see :func:`cut`)."""
    return cut(repr(value))


def _int(d: dict, name: str) -> int:
    v = d[name]
    if type(v) is not int:  # bool is not an int here
        raise InvalidEvent(f"field {name!r} must be an integer, got {type(v).__name__}")
    if not 0 <= v <= INT64_MAX:
        raise InvalidEvent(f"field {name!r} must be in [0, 2^63-1], got {show(v)}")
    return v


def _check_ts(ts: int) -> None:
    if not TS_MIN_MS <= ts < TS_MAX_MS:
        raise InvalidEvent(f"field 'ts' must be epoch milliseconds in [2000-01-01, 2100-01-01), got {show(ts)}")


def validate(obj: Any) -> Event:
    """Check a decoded event against schema version 1; raise :class:`InvalidEvent` with the reason."""
    if not isinstance(obj, dict):
        raise InvalidEvent(f"event must be a JSON object, got {type(obj).__name__}")
    if "v" not in obj:
        raise InvalidEvent("missing field 'v' (schema version)")
    v = obj["v"]
    if type(v) is not int or v != SCHEMA_VERSION:
        raise InvalidEvent(f"unsupported schema version {show(v)} (expected the integer {SCHEMA_VERSION})")
    missing = [f for f in FIELDS if f not in obj]
    if missing:
        raise InvalidEvent(
            f"missing field {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    user = obj["user_id"]
    problem = user_id_problem(user)
    if problem:
        raise InvalidEvent(problem)
    etype, page = obj["event_type"], obj["page"]
    if type(etype) is not str or etype not in _TYPES:
        raise InvalidEvent(f"field 'event_type' must be one of {list(EVENT_TYPES)}, got {show(etype)}")
    if type(page) is not str or page not in _PAGES:
        raise InvalidEvent(f"field 'page' must be one of {list(PAGES)}, got {show(page)}")
    cart = obj["cart_value"]
    if type(cart) not in (int, float):
        raise InvalidEvent(f"field 'cart_value' must be a number, got {type(cart).__name__}")
    if not 0 <= cart < CART_MAX:  # also refuses NaN (every comparison is False) and infinities
        raise InvalidEvent(f"field 'cart_value' must be a finite number in [0, 1e12), got {show(cart)}")
    ts = _int(obj, "ts")
    _check_ts(ts)
    return Event(_int(obj, "event_id"), user, _int(obj, "session_id"), etype, ts, page, float(cart))


CART_MAX = 1e12
_FLOAT, _INT, _new = float, int, tuple.__new__


def _plain_id(user: str) -> bool:
    # isascii + isalnum (~60 ns) covers the usual ids; anything else takes the full rule
    return (user.isascii() and user.isalnum() and len(user) <= USER_ID_MAX_LEN) or user_id_ok(user)


def decode(raw: bytes | None) -> Event:
    """Bytes from Kafka -> validated :class:`Event` (or :class:`InvalidEvent`).

    Fast path: one combined check of a well-formed event; anything else goes through
    :func:`validate`, which names the first failing field.
    """
    if not raw:
        raise InvalidEvent("empty message (no value)")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"event of {len(raw)} bytes is larger than {MAX_EVENT_BYTES} bytes")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {cut(str(exc))}") from None
    try:
        v, eid, user, sid, etype = obj["v"], obj["event_id"], obj["user_id"], obj["session_id"], obj["event_type"]
        ts, page, cart = obj["ts"], obj["page"], obj["cart_value"]
        if (
            type(v) is _INT
            and v == SCHEMA_VERSION
            and type(eid) is _INT
            and 0 <= eid <= INT64_MAX
            and type(user) is str
            and _plain_id(user)
            and type(sid) is _INT
            and 0 <= sid <= INT64_MAX
            and type(etype) is str
            and etype in _TYPES
            and type(ts) is _INT
            and TS_MIN_MS <= ts < TS_MAX_MS
            and type(page) is str
            and page in _PAGES
            and type(cart) is _FLOAT
            and 0.0 <= cart < CART_MAX
        ):
            return _new(Event, (eid, user, sid, etype, ts, page, cart))
    except (KeyError, TypeError):
        pass
    return validate(obj)


def encode(
    event_id: int, user_id: str, session_id: int, event_type: str, ts: int, page: str, cart_value: float
) -> bytes:
    return orjson.dumps(
        {
            "v": SCHEMA_VERSION,
            "event_id": int(event_id),
            "user_id": user_id,
            "session_id": int(session_id),
            "event_type": event_type,
            "ts": int(ts),
            "page": page,
            "cart_value": float(cart_value),
        }
    )
