"""The synthetic click-stream: sessions and events per customer, drawn in chunks of customers.

:func:`event_chunks` yields one Arrow table per chunk (``events.chunk_customers`` customers), so a
world of any size streams to disk with bounded memory; the caller writes them (:func:`write_events`).
Events fall in ``[T - events.window_days, T)``: nothing from the label window is observable.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EVENT_TYPES = np.array(["page_view", "click", "add_to_cart", "remove_from_cart", "checkout"])
PAGES = np.array(["home", "product", "search", "cart", "account", "support", "cancel"])
DAY_MS = 86_400_000
EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.int64()),
        ("user_id", pa.string()),
        ("session_id", pa.int64()),
        ("event_type", pa.string()),
        ("ts", pa.int64()),  # epoch milliseconds
        ("page", pa.string()),
        ("cart_value", pa.float64()),  # cart total after this event
    ]
)


def _event_types(rng: np.random.Generator, a: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Event type codes: views and clicks, cart adds/removes (more removes when abandoning), checkouts last."""
    n_e = a.size
    r = rng.random(n_e)
    p_view, p_click, p_add = 0.45, 0.30, 0.17
    p_remove = 0.03 + 0.10 * a
    etype = np.where(
        r < p_view,
        0,
        np.where(r < p_view + p_click, 1, np.where(r < p_view + p_click + p_add * (1 - 0.3 * a), 2, 3)),
    )
    checkout = last & (rng.random(n_e) < (1 - a) * 0.6)
    return np.where(checkout, 4, np.where(etype == 3, np.where(rng.random(n_e) < p_remove * 4, 3, 0), etype))


def _cart_and_pages(rng, etype, offsets, s_len, a, ca) -> tuple[np.ndarray, np.ndarray]:
    """Running cart value per session (never below 0) and the page of each event."""
    n_e = etype.size
    price = np.round(rng.lognormal(3.4, 0.6, n_e), 2)
    delta = np.where(etype == 2, price, np.where(etype == 3, -price, 0.0))
    running = np.cumsum(delta)
    cart = np.maximum(running - np.repeat(running[offsets] - delta[offsets], s_len), 0.0)
    page_r = rng.random(n_e)
    page = np.where(page_r < ca * 0.5, 6, np.where(page_r < ca * 0.5 + 0.05 + 0.1 * a, 5, rng.integers(0, 5, n_e)))
    page = np.where(etype == 4, 3, np.where(np.isin(etype, [2, 3]), 1, page))
    return cart, page


def _chunk(rng, u, ids, engagement, abandon, cancel_affinity, obs_ms, ev_cfg, first_ids) -> tuple[pa.Table, int] | None:
    """The events of customers ``u`` (indices) and their session count; ``first_ids`` = (next event id,
    next session id). None when they have no session."""
    window_ms = int(ev_cfg["window_days"]) * DAY_MS
    lam = ev_cfg["sessions_per_customer"] * np.exp(0.45 * engagement[u] - 0.1)
    n_sess = rng.poisson(lam)
    s_user = np.repeat(u, n_sess)
    n_s = s_user.size
    if n_s == 0:
        return None
    s_len = 1 + rng.poisson(ev_cfg["events_per_session"] - 1, n_s)
    # sessions start in the window; events must end before T (no future leakage)
    s_start = obs_ms - window_ms + (rng.random(n_s) * (window_ms - 3_600_000)).astype(np.int64)
    e_sess = np.repeat(np.arange(n_s), s_len)
    e_user = s_user[e_sess]
    n_e = e_sess.size
    offsets = np.cumsum(s_len) - s_len
    first, last = np.zeros(n_e, dtype=bool), np.zeros(n_e, dtype=bool)
    first[offsets] = True
    last[offsets + s_len - 1] = True
    mean_gap = np.exp(2.0 - 0.3 * engagement[e_user])  # seconds
    gap_ms = (rng.exponential(1.0, n_e) * mean_gap * 1000).astype(np.int64)
    gap_ms[first] = 0
    cum = np.cumsum(gap_ms)
    ts = np.minimum(s_start[e_sess] + cum - np.repeat(cum[offsets], s_len), obs_ms - 1)
    a = abandon[e_user]
    etype = _event_types(rng, a, last)
    cart, page = _cart_and_pages(rng, etype, offsets, s_len, a, cancel_affinity[e_user])
    next_event, next_session = first_ids
    columns = {
        "event_id": np.arange(next_event, next_event + n_e, dtype=np.int64),
        "user_id": ids[e_user],
        "session_id": (e_sess + next_session).astype(np.int64),
        "event_type": EVENT_TYPES[etype],
        "ts": ts.astype(np.int64),
        "page": PAGES[page],
        "cart_value": np.round(cart, 2),
    }
    return pa.table(columns, schema=EVENT_SCHEMA), n_s


def event_chunks(
    rng: np.random.Generator,
    ids: np.ndarray,
    has_events: np.ndarray,
    engagement: np.ndarray,
    abandon: np.ndarray,
    cancel_affinity: np.ndarray,
    obs_ms: int,
    ev_cfg: dict[str, Any],
) -> Iterator[pa.Table]:
    """One Arrow table per chunk of customers with history (event and session ids run on across chunks)."""
    chunk = int(ev_cfg["chunk_customers"])
    users = np.nonzero(has_events)[0]
    next_ids = (0, 0)
    for start in range(0, users.size, chunk):
        drawn = _chunk(
            rng, users[start : start + chunk], ids, engagement, abandon, cancel_affinity, obs_ms, ev_cfg, next_ids
        )
        if drawn is None:
            continue
        table, sessions = drawn
        next_ids = (next_ids[0] + table.num_rows, next_ids[1] + sessions)
        yield table


def chunk_count(has_events: np.ndarray, ev_cfg: dict[str, Any]) -> int:
    users = int(np.count_nonzero(has_events))
    return -(-users // int(ev_cfg["chunk_customers"]))


def write_events(
    path: Path, chunks: Iterator[pa.Table], total_chunks: int | None = None, progress: bool = False
) -> int:
    """Stream the chunks into one Parquet file (one row group per chunk); returns the event count."""
    from tqdm import tqdm

    total = 0
    with pq.ParquetWriter(path, EVENT_SCHEMA) as writer:
        for table in tqdm(chunks, total=total_chunks, desc="events", disable=not progress, unit="chunk"):
            writer.write_table(table)
            total += table.num_rows
    return total
