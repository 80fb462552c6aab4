"""The hostile-input corpus: events a producer (buggy or malicious) could put on the events topic.

Data, generated (several cases are megabytes, binary or invalid UTF-8, so they are built here
rather than stored): :func:`hostile_cases` returns ``Case(name, key, value, kind, reason)``,
``kind`` the outcome the feature job must give (``invalid``, ``future``, ``too_old``, ``late``
go to the dead-letter topic with a reason containing ``reason``; ``duplicate`` is skipped).
Times are relative to ``now_ms`` because the job checks event time against its clock.
"""

from __future__ import annotations

import random
from typing import NamedTuple

import orjson

DAY_MS = 86_400_000


class Case(NamedTuple):
    name: str
    key: bytes | None
    value: bytes | None
    kind: str
    reason: str


def event(now_ms: int, **over) -> dict:
    base = {
        "v": 1,
        "event_id": 900_000,
        "user_id": "HOSTILE_1",
        "session_id": 1,
        "event_type": "click",
        "ts": now_ms,
        "page": "home",
        "cart_value": 10.0,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def _raw_cases() -> list[tuple[str, bytes | None, str]]:
    noise = random.Random(14).randbytes(1000)
    deep = b"[" * 100_000 + b"]" * 100_000
    return [
        ("empty value", b"", "empty message"),
        ("tombstone (no value)", None, "empty message"),
        ("truncated JSON", b'{"v": 1, "event_id": 1', "not valid JSON"),
        ("JSON null", b"null", "must be a JSON object"),
        ("JSON array", b"[1, 2, 3]", "must be a JSON object"),
        ("JSON string", b'"click"', "must be a JSON object"),
        ("JSON number", b"42", "must be a JSON object"),
        ("invalid UTF-8", b'{"v": 1, "user_id": "\xff\xfe"}', "not valid JSON"),
        ("binary noise", b"\x00" + noise, "not valid JSON"),
        ("UTF-16 JSON", '{"v": 1}'.encode("utf-16"), "not valid JSON"),
        ("NaN literal", b'{"v": 1, "cart_value": NaN}', "not valid JSON"),
        ("Infinity literal", b'{"v": 1, "cart_value": Infinity}', "not valid JSON"),
        ("-Infinity literal", b'{"v": 1, "cart_value": -Infinity}', "not valid JSON"),
        ("number overflowing a double", b'{"v": 1, "cart_value": 1e400}', "not valid JSON"),
        ("deep nesting 100k", deep, "larger than"),
        ("deep nesting 2k in a field", b'{"v": 1, "x": ' + b"[" * 2000 + b"]" * 2000 + b"}", "not valid JSON"),
        ("5 MB event", orjson.dumps({"v": 1, "pad": "x" * 5_000_000}), "larger than"),
        ("200 KB of control characters", orjson.dumps({"v": 1, "pad": "\x01\x02\x1b" * 70_000}), "larger than"),
        ("only whitespace", b"   \n\t  ", "not valid JSON"),
        ("two JSON objects", b'{"v": 1}{"v": 1}', "not valid JSON"),
    ]


def _field_cases(now_ms: int) -> list[tuple[str, dict, str, str]]:
    D = _DROP
    return [
        ("v true", {"v": True}, "invalid", "unsupported schema version True"),
        ("v 1.0", {"v": 1.0}, "invalid", "unsupported schema version 1.0"),
        ("v string", {"v": "1"}, "invalid", "unsupported schema version '1'"),
        ("v 2", {"v": 2}, "invalid", "unsupported schema version 2"),
        ("v missing", {"v": D}, "invalid", "missing field 'v'"),
        (
            "empty object",
            {k: D for k in ("v", "event_id", "user_id", "session_id", "event_type", "ts", "page", "cart_value")},
            "invalid",
            "missing field 'v'",
        ),
        ("event_type missing", {"event_type": D}, "invalid", "missing field 'event_type'"),
        ("user_id missing", {"user_id": D}, "invalid", "missing field 'user_id'"),
        ("ts missing", {"ts": D}, "invalid", "missing field 'ts'"),
        ("page missing", {"page": D}, "invalid", "missing field 'page'"),
        ("cart_value missing", {"cart_value": D}, "invalid", "missing field 'cart_value'"),
        ("event_id null", {"event_id": None}, "invalid", "field 'event_id' must be an integer, got NoneType"),
        ("event_id 2^63", {"event_id": 2**63}, "invalid", "field 'event_id' must be in [0, 2^63-1]"),
        ("event_id 2^64", {"event_id": 2**64 - 1}, "invalid", "field 'event_id' must be in [0, 2^63-1]"),
        ("event_id negative", {"event_id": -1}, "invalid", "field 'event_id' must be in [0, 2^63-1]"),
        ("event_id float", {"event_id": 1.5}, "invalid", "field 'event_id' must be an integer, got float"),
        ("session_id string", {"session_id": "1"}, "invalid", "field 'session_id' must be an integer, got str"),
        ("session_id bool", {"session_id": True}, "invalid", "field 'session_id' must be an integer, got bool"),
        ("event_type unknown", {"event_type": "teleport"}, "invalid", "field 'event_type' must be one of"),
        ("event_type null", {"event_type": None}, "invalid", "field 'event_type' must be one of"),
        ("event_type 20k chars", {"event_type": "click" * 4000}, "invalid", "(20002 characters)"),
        ("event_type list", {"event_type": ["click"]}, "invalid", "field 'event_type' must be one of"),
        ("page unknown", {"page": "admin"}, "invalid", "field 'page' must be one of"),
        ("page object", {"page": {"a": 1}}, "invalid", "field 'page' must be one of"),
        ("cart_value negative", {"cart_value": -3.0}, "invalid", "field 'cart_value' must be a finite number"),
        ("cart_value 1e300", {"cart_value": 1e300}, "invalid", "field 'cart_value' must be a finite number"),
        ("cart_value string", {"cart_value": "10"}, "invalid", "field 'cart_value' must be a number, got str"),
        ("cart_value bool", {"cart_value": True}, "invalid", "field 'cart_value' must be a number, got bool"),
        ("ts year 9999", {"ts": 253_402_300_799_000}, "invalid", "field 'ts' must be epoch milliseconds"),
        ("ts 2^63", {"ts": 2**63}, "invalid", "field 'ts' must be in [0, 2^63-1]"),
        ("ts 2^63-1", {"ts": 2**63 - 1}, "invalid", "field 'ts' must be epoch milliseconds"),
        ("ts 1 (1970)", {"ts": 1}, "invalid", "field 'ts' must be epoch milliseconds"),
        ("ts 0", {"ts": 0}, "invalid", "field 'ts' must be epoch milliseconds"),
        ("ts negative", {"ts": -5}, "invalid", "field 'ts' must be in [0, 2^63-1]"),
        ("ts float", {"ts": float(now_ms)}, "invalid", "field 'ts' must be an integer, got float"),
        ("ts ISO string", {"ts": "2026-06-30T00:00:00Z"}, "invalid", "field 'ts' must be an integer, got str"),
        ("ts in seconds", {"ts": now_ms // 1000}, "invalid", "field 'ts' must be epoch milliseconds"),
        ("ts 10 min ahead", {"ts": now_ms + 600_000}, "future", "ahead of the job's clock"),
        ("ts 1 day ahead", {"ts": now_ms + DAY_MS}, "future", "ahead of the job's clock"),
        ("ts 8 days old", {"ts": now_ms - 8 * DAY_MS}, "too_old", "older than the job's clock"),
        ("ts year 2001", {"ts": 1_000_000_000_000}, "too_old", "older than the job's clock"),
    ]


def _user_id_cases(group: str) -> list[tuple[str, dict, str, str]]:
    big_user = "U" + "\x0b" * 9_000  # escaped 6x it stays under the size limit: the user-id rule names it
    return [
        ("user_id offsets:<group>", {"user_id": f"offsets:{group}"}, "invalid", "got ':' at position 7"),
        ("user_id job key", {"user_id": f".job:offsets:{group}"}, "invalid", "got ':' at position 4"),
        ("user_id hash tag", {"user_id": "{slot}"}, "invalid", "got '{' at position 0"),
        ("user_id colon", {"user_id": "a:b"}, "invalid", "got ':' at position 1"),
        ("user_id CRLF", {"user_id": "U1\r\nSET x"}, "invalid", "got '\\r' at position 2"),
        ("user_id 200 chars", {"user_id": "A" * 200}, "invalid", "longer than 128 characters (got 200)"),
        ("user_id 9k control chars", {"user_id": big_user}, "invalid", "longer than 128 characters"),
        ("user_id empty", {"user_id": ""}, "invalid", "field 'user_id' must not be empty"),
        ("user_id space", {"user_id": "U 1"}, "invalid", "got ' ' at position 1"),
        ("user_id NUL", {"user_id": "U\x001"}, "invalid", "got '\\x00' at position 1"),
        ("user_id unicode", {"user_id": "用户"}, "invalid", "at position 0"),
        ("user_id glob", {"user_id": "*"}, "invalid", "got '*' at position 0"),
        ("user_id path", {"user_id": "../etc"}, "invalid", "got '/' at position 2"),
        ("user_id integer", {"user_id": 42}, "invalid", "field 'user_id' must be a string, got int"),
        ("user_id null", {"user_id": None}, "invalid", "field 'user_id' must be a string, got NoneType"),
    ]


def hostile_cases(now_ms: int, group: str, good: dict, watermark_ms: int) -> list[Case]:
    """Every case. ``good``: one good event (already on the topic earlier) to duplicate;
    ``watermark_ms``: that user's largest ts, for a late event."""
    cases = [Case(n, None, v, "invalid", r) for n, v, r in _raw_cases()]
    for name, over, kind, reason in _field_cases(now_ms) + _user_id_cases(group):
        cases.append(Case(name, b"HOSTILE_1", orjson.dumps(event(now_ms, **over)), kind, reason))
    user = good["user_id"].encode()
    cases += [
        Case("huge key, invalid payload", b"K" * 300_000, b"{nope", "invalid", "not valid JSON"),
        Case("duplicate of a good event", user, orjson.dumps(good), "duplicate", ""),
        Case(
            "late event (watermark - 61 s)",
            user,
            orjson.dumps({**good, "event_id": 990_001, "ts": watermark_ms - 61_000}),
            "late",
            "late",
        ),
    ]
    return cases
