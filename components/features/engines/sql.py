"""The click-stream aggregates as one SQL query, run unchanged by DuckDB and Spark SQL.

Mirrors :func:`churnguard.features.clickstream.session_aggregates`: per (customer, session), then
per customer; integers only (plus the maximum stored cart value), so every engine agrees exactly.
"""

from __future__ import annotations

from churnguard.features.clickstream import AGGREGATES


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def clickstream_sql(events: str, lo: int, hi: int) -> str:
    """SELECT user_id + :data:`AGGREGATES` from the relation ``events`` over ts in [lo, hi)."""
    per_session = f"""
        SELECT user_id, session_id, COUNT(*) AS n, MIN(ts) AS t0, MAX(ts) AS t1,
               SUM({_flag("event_type = 'add_to_cart'")}) AS adds,
               SUM({_flag("event_type = 'remove_from_cart'")}) AS removes,
               SUM({_flag("event_type = 'checkout'")}) AS checkouts,
               SUM({_flag("page = 'cancel'")}) AS cancels,
               SUM({_flag("page = 'support'")}) AS supports,
               MAX(cart_value) AS max_cart
        FROM {events}
        WHERE ts >= {int(lo)} AND ts < {int(hi)}
        GROUP BY user_id, session_id"""
    sums = {
        "sessions": "COUNT(*)",
        "events": "SUM(n)",
        "adds": "SUM(adds)",
        "removes": "SUM(removes)",
        "checkouts": "SUM(checkouts)",
        "abandoned_sessions": f"SUM({_flag('adds > 0 AND checkouts = 0')})",
        "cart_sessions": f"SUM({_flag('adds > 0')})",
        "gap_ms": "SUM(t1 - t0)",
        "gaps": "SUM(n - 1)",
        "cancels": "SUM(cancels)",
        "supports": "SUM(supports)",
        "last_ts": "MAX(t1)",
    }
    assert [*sums, "max_cart"] == AGGREGATES
    select = ",\n               ".join(f"CAST({expr} AS BIGINT) AS {name}" for name, expr in sums.items())
    return f"""
        SELECT user_id,
               {select},
               MAX(max_cart) AS max_cart
        FROM ({per_session}) AS sessions
        GROUP BY user_id"""
