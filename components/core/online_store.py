"""The online feature store contract (Redis): one hash per user, written by streaming, read by serving.

This module is the ONE place that builds Redis keys (streaming and serving both call it).

User key: ``{prefix}{user_id}`` (prefix ``cg:user:`` by default, configurable for tests). Fields
are online feature names (owned by components/streaming), plus ``rt_churn_probability``,
``model_version`` and ``updated_ms``. Values are stored as strings; :func:`read_online` parses
numbers back. A TTL (streaming config) expires users who went quiet. The field ``_state`` (the
exact per-user stream state) is internal: :func:`read_online` leaves out fields starting with ``_``.

Job keys (streaming's own bookkeeping: offsets, parked dead letters) live in a key space no user
id can reach, whatever the id: the prefix must end with ``:`` and job keys start with the prefix
with that last ``:`` replaced by ``.job:`` (``cg:user.job:offsets:<group>``), which is never of the
form ``cg:user:<anything>``. On top of that the stream refuses user ids outside
:data:`USER_ID_CHARS` (no ``:``, ``{``, ``}``, whitespace or control characters; Redis Cluster
hash tags stay the job's) and longer than :data:`USER_ID_MAX_LEN` (:func:`user_id_problem`).
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT_PREFIX = "cg:user:"
STATE_FIELD = "_state"
USER_ID_MAX_LEN = 128
USER_ID_CHARS = "A-Z a-z 0-9 _ . - @ +"
_USER_ID_OK = re.compile(rf"[A-Za-z0-9_.@+\-]{{1,{USER_ID_MAX_LEN}}}").fullmatch
_BAD_CHAR = re.compile(r"[^A-Za-z0-9_.@+\-]").search


def user_id_ok(user_id: str) -> bool:
    """Fast check of a str id (the stream's hot path); :func:`user_id_problem` says why not."""
    return _USER_ID_OK(user_id) is not None


def user_id_problem(user_id: Any) -> str | None:
    """None for an acceptable user id, else why not (a short reason that names the field)."""
    if type(user_id) is str and _USER_ID_OK(user_id):
        return None
    if type(user_id) is not str:
        return f"field 'user_id' must be a string, got {type(user_id).__name__}"
    if not user_id:
        return "field 'user_id' must not be empty"
    if len(user_id) > USER_ID_MAX_LEN:
        return f"field 'user_id' is longer than {USER_ID_MAX_LEN} characters (got {len(user_id)})"
    bad = _BAD_CHAR(user_id)
    assert bad is not None  # _USER_ID_OK failed and the length is fine, so some character is outside the set
    return f"field 'user_id' may only contain {USER_ID_CHARS}; got {bad.group()!r} at position {bad.start()}"


def user_key(user_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}{user_id}"


def job_space(prefix: str = DEFAULT_PREFIX) -> str:
    """Start of every job key for a user prefix (``cg:user:`` -> ``cg:user.job:``); see module doc."""
    if not prefix.endswith(":"):
        raise ValueError(
            f"online store key prefix must end with ':' (got {prefix!r}): job keys are kept apart from user keys by it"
        )
    return prefix[:-1] + ".job:"


def offsets_key(group_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Where the streaming job keeps the offsets it has applied (a job key, unreachable by user ids)."""
    return f"{job_space(prefix)}offsets:{group_id}"


def parked_key(group_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """A Redis list of dead letters the job could not produce to Kafka (a job key)."""
    return f"{job_space(prefix)}parked:{group_id}"


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
