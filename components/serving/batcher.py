"""Adaptive micro-batching: concurrent predict requests are scored in one ``bundle.predict`` call.

Scoring one row costs nearly as much as scoring dozens (pandas and scikit-learn overhead per
call dominate), so a single scoring thread takes *whatever is queued right now* (no
artificial wait: a lone request is scored at once) and scores it as one frame, then hands
each request its own rows back. Under concurrency the per-call overhead is shared. Requests
are grouped by the model snapshot they took, so a swap never mixes versions in one answer.
Rows travel as :mod:`churnguard.core.columns` (no DataFrame per request).
Parts score rows independently (the bundle contract), which is what makes this exact.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import numpy as np

from churnguard.core.columns import Columns


class MicroBatcher:
    def __init__(self, max_rows: int = 1024):
        self.max_rows = int(max_rows)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, daemon=True, name="micro-batcher")
        self._thread.start()
        self.calls = 0
        self.rows = 0

    def submit(self, model: Any, prepare: Callable[[], Any]) -> Future:
        """Queue one request. In the scoring thread ``prepare()`` builds its rows (an object with
        ``cols`` and ``n``; exceptions go to this request only), then rows queued together are
        scored in one call. The future resolves to ``(rows, scores)``."""
        fut: Future = Future()
        self._queue.put((model, prepare, fut))
        return fut

    def predict(self, model: Any, cols: Columns, n: int, timeout: float = 60.0) -> Columns:
        """Score ``n`` ready rows (blocking), possibly together with other requests' rows."""
        rows = SimpleNamespace(cols=cols, n=n)
        return self.submit(model, lambda: rows).result(timeout=timeout)[1]

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            items = [first]
            while len(items) < self.max_rows:  # rows are counted after prepare(); requests here
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            groups: dict[int, list] = {}
            for model, prepare, fut in items:
                if not fut.set_running_or_notify_cancel():
                    continue
                try:
                    rows = prepare()
                except Exception as exc:
                    fut.set_exception(exc)
                    continue
                groups.setdefault(id(model), []).append((model, rows, fut))
            for group in groups.values():
                self._score(group)

    def _score(self, group: list) -> None:
        model = group[0][0]
        try:
            if len(group) == 1:
                _, rows, fut = group[0]
                fut.set_result((rows, model.bundle.predict_columns(rows.cols, rows.n)))
                self.calls += 1
                self.rows += rows.n
                return
            total = sum(g[1].n for g in group)
            scores = model.bundle.predict_columns(concat([(g[1].cols, g[1].n) for g in group]), total)
            self.calls += 1
            self.rows += total
            start = 0
            for _, rows, fut in group:
                fut.set_result((rows, {k: v[start : start + rows.n] for k, v in scores.items()}))
                start += rows.n
        except Exception:  # score each request alone, so one bad request fails only itself
            for _, rows, fut in group:
                if fut.done():
                    continue
                try:
                    fut.set_result((rows, model.bundle.predict_columns(rows.cols, rows.n)))
                except Exception as exc:
                    fut.set_exception(exc)


def concat(parts: list[tuple[Columns, int]]) -> Columns:
    """Stack several requests' columns; a column one request lacks is None (missing) there."""
    names = list(dict.fromkeys(k for cols, _ in parts for k in cols))
    out: Columns = {}
    for name in names:
        pieces = []
        for cols, n in parts:
            v = cols.get(name)
            if v is None:
                v = np.full(n, None, dtype=object)
            pieces.append(v)
        out[name] = (
            np.concatenate(pieces)
            if len({p.dtype for p in pieces}) == 1
            else np.concatenate([p.astype(object) for p in pieces])
        )
    return out
