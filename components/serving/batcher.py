"""Adaptive micro-batching: concurrent predict requests are scored in one ``bundle.predict`` call.

Scoring one row costs nearly as much as scoring dozens (pandas and scikit-learn overhead per
call dominate), so a single scoring thread takes *whatever is queued right now* (no
artificial wait: a lone request is scored at once) and scores it as one frame, then hands
each request its own rows back. Under concurrency the per-call overhead is shared. Requests
are grouped by the model snapshot they took, so a swap never mixes versions in one answer.
Parts score rows independently (the bundle contract), which is what makes this exact.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any

import pandas as pd


class MicroBatcher:
    def __init__(self, max_rows: int = 1024):
        self.max_rows = int(max_rows)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, daemon=True, name="micro-batcher")
        self._thread.start()
        self.calls = 0
        self.rows = 0

    def predict(self, model: Any, frame: pd.DataFrame, timeout: float = 60.0) -> pd.DataFrame:
        """Score ``frame`` with ``model.bundle`` (possibly together with other requests' rows)."""
        if len(frame) >= self.max_rows:
            return model.bundle.predict(frame)
        fut: Future = Future()
        self._queue.put((model, frame, fut))
        return fut.result(timeout=timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            items, rows = [first], len(first[1])
            while rows < self.max_rows:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                items.append(item)
                rows += len(item[1])
            groups: dict[int, list] = {}
            for item in items:
                groups.setdefault(id(item[0]), []).append(item)
            for group in groups.values():
                self._score(group)

    def _score(self, group: list) -> None:
        model = group[0][0]
        try:
            if len(group) == 1:
                group[0][2].set_result(model.bundle.predict(group[0][1]))
                self.calls += 1
                self.rows += len(group[0][1])
                return
            frame = pd.concat([g[1] for g in group], ignore_index=True, sort=False)
            scores = model.bundle.predict(frame)
            self.calls += 1
            self.rows += len(frame)
            start = 0
            for _, part, fut in group:
                n = len(part)
                fut.set_result(scores.iloc[start:start + n].reset_index(drop=True))
                start += n
        except Exception:   # score each request alone, so one bad request fails only itself
            for _, part, fut in group:
                if fut.done():
                    continue
                try:
                    fut.set_result(model.bundle.predict(part))
                except Exception as exc:  # noqa: BLE001 - delivered to the waiting request
                    fut.set_exception(exc)
