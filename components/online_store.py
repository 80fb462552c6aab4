"""The online feature store contract (Redis): one hash per user, written by streaming, read by serving.

Key: ``cg:user:{user_id}`` (prefix configurable for tests). Fields are online feature names
(owned by components/streaming), plus ``rt_churn_probability``, ``model_version`` and
``updated_ms``. Values are stored as strings; :func:`read_online` parses numbers back.
A TTL (streaming config) expires users who went quiet.

Streaming's own bookkeeping, not features: the field ``_state`` (the exact per-user stream state,
so a restarted job continues where Redis is) and the hash ``{prefix}offsets:{group}`` (next
offset per ``topic:partition``, written in the same transaction as the features). Fields whose
name starts with ``_`` are internal: :func:`read_online` leaves them out.
"""
from __future__ import annotations

from typing import Any

DEFAULT_PREFIX = "cg:user:"
STATE_FIELD = "_state"


def user_key(user_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}{user_id}"


def offsets_key(group_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Where the streaming job keeps the offsets it has applied (see module docstring)."""
    return f"{prefix}offsets:{group_id}"


def _parse(value: Any) -> Any:
    text = value.decode() if isinstance(value, bytes) else value
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def read_online(client: Any, user_id: str, prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """All online fields of one user ({} when the user has none or expired)."""
    raw = client.hgetall(user_key(user_id, prefix))
    out = {}
    for k, v in raw.items():
        name = k.decode() if isinstance(k, bytes) else k
        if not name.startswith("_"):
            out[name] = _parse(v)
    return out
