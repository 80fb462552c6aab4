"""The online feature store contract (Redis): one hash per user, written by streaming, read by serving.

Key: ``cg:user:{user_id}`` (prefix configurable for tests). Fields are online feature names
(owned by components/streaming), plus ``rt_churn_probability``, ``model_version`` and
``updated_ms``. Values are stored as strings; :func:`read_online` parses numbers back.
A TTL (streaming config) expires users who went quiet.
"""
from __future__ import annotations

from typing import Any

DEFAULT_PREFIX = "cg:user:"


def user_key(user_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}{user_id}"


def _parse(value: Any) -> Any:
    text = value.decode() if isinstance(value, bytes) else value
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def read_online(client: Any, user_id: str, prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """All online fields of one user ({} when the user has none or expired)."""
    raw = client.hgetall(user_key(user_id, prefix))
    return {(k.decode() if isinstance(k, bytes) else k): _parse(v) for k, v in raw.items()}
