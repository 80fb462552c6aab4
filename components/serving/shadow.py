"""Shadow scoring: the challenger scores every predicted customer in its own process, off the hot path.

Why a process and not a thread: a thread scoring the challenger holds the GIL for the ~2 ms a
bundle takes per call, and the next request waits for it (CPython hands the GIL over only every
5 ms of contention): that is on the hot path of every request. The shadow process instead

- follows the challenger alias itself (its own :class:`~churnguard.serving.holder.ModelHolder`,
  digest-checked like the champion; no alias: nothing is scored);
- runs at a lower CPU priority (``nice``), so on a busy machine the champion's requests come first;
- takes whatever requests are queued, scores them in one call (batched: cheaper per row) and
  writes both scores to the arm log (:mod:`churnguard.serving.arms`);
- reports versions, scores and timings back over a queue; a thread of the serving process turns
  them into the per-arm Prometheus metrics.

A request costs the serving process one non-blocking ``put`` of its merged feature rows (as row dicts
and lists: pickling them costs ~5 µs, numpy object arrays ~60 µs, measured); when the
queue is full (the shadow process fell behind) the request is answered anyway and the shadow
score is dropped and counted (``churnguard_shadow_dropped_total``).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from churnguard.serving.arms import CHALLENGER, CHAMPION, ArmLogWriter, log_records, version_number

log = logging.getLogger("churnguard.serving.shadow")
MAX_ROWS = 2048  # rows scored in one shadow call


@dataclass(frozen=True)
class Job:
    ts: float
    ids: list[str]
    champion_version: str
    champion_probability: list[float]
    records: list[Any]  # the merged feature rows, one dict per customer

    @property
    def n(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class WorkerSettings:
    tracking_uri: str
    model_name: str
    alias: str
    poll_interval_s: float
    log_dir: str
    require_digest: bool
    signing_key: str | None
    math_threads: int
    nice: int = 10


@dataclass
class ShadowStatus:
    state: str = "starting"  # starting | ready | no_challenger | failed | stopped
    version: str | None = None
    last_error: str | None = None
    scored_rows: int = 0
    dropped: int = 0
    errors: int = 0
    history: list[str] = field(default_factory=list)  # versions loaded, in order


class ShadowScorer:
    """The serving side: starts the shadow process, queues requests, reads its reports into metrics."""

    def __init__(self, settings: WorkerSettings, queue_size: int, metrics: Any):
        ctx = mp.get_context("spawn")  # never fork a process holding a model, threads and sockets
        self.settings = settings
        self.metrics = metrics
        self.status = ShadowStatus()
        self._jobs = ctx.Queue(maxsize=queue_size)
        self._reports = ctx.Queue()
        self._process = ctx.Process(
            target=worker_main, args=(settings, self._jobs, self._reports), daemon=True, name="churnguard-shadow"
        )
        self._reader = threading.Thread(target=self._read_reports, daemon=True, name="shadow-reports")

    def start(self) -> None:
        # A spawned child resolves `churnguard` through sys.path, where MLflow has put every loaded
        # version's code copy first (pyfunc code_paths): the child must run this process's code.
        home, saved = str(Path(__file__).parents[2]), sys.path[:]  # the folder holding this churnguard
        sys.path[:] = [home, *(p for p in saved if p != home)]
        try:
            self._process.start()  # spawn reads sys.path here
        finally:
            sys.path[:] = saved
        self._reader.start()

    def submit(self, ids: list[str], champion_version: str, probability: list[float], records: list[Any]) -> bool:
        """Queue one answered request for the challenger (never blocks). False: dropped (queue full)."""
        if self.status.state in ("no_challenger", "stopped") or self.status.version == champion_version:
            return False  # nothing to compare: no challenger, or it is the champion itself
        try:
            self._jobs.put_nowait(Job(time.time(), ids, champion_version, probability, records))
            return True
        except queue.Full:
            self.status.dropped += len(ids)
            self.metrics.shadow_dropped.inc(len(ids))
            return False

    def stop(self, timeout: float = 10.0) -> None:
        if not self._process.is_alive():
            return
        try:
            self._jobs.put(None, timeout=1.0)
        except queue.Full:
            pass
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self.status.state = "stopped"

    def _read_reports(self) -> None:
        while True:
            try:
                kind, payload = self._reports.get(timeout=1.0)
            except queue.Empty:
                if not self._process.is_alive() and self._process.exitcode is not None:
                    self.status.state = "stopped"
                    return
                continue
            except (EOFError, OSError):
                return
            self._apply(kind, payload)
            if kind == "stopped":
                return

    def _apply(self, kind: str, payload: dict[str, Any]) -> None:
        status, m = self.status, self.metrics
        if kind == "loaded":
            status.state, status.version, status.last_error = "ready", payload["version"], None
            status.history.append(payload["version"])
            m.challenger_version.set(version_number(payload["version"]))
        elif kind == "cleared":
            status.state, status.version = "no_challenger", None
            m.challenger_version.set(0)
        elif kind in ("failed", "error"):
            status.errors += 1
            status.last_error = payload["reason"][:500]
            status.state = "failed" if kind == "failed" and status.version is None else status.state
            m.shadow_errors.inc()
        elif kind == "scored":
            status.scored_rows += len(payload["challenger"])
            m.observe_shadow(payload)
        elif kind == "stopped":
            status.state = "stopped"


# ---- the shadow process -------------------------------------------------------------------------


def worker_main(settings: WorkerSettings, jobs: Any, reports: Any) -> None:
    """Entry point of the shadow process (spawned: imports only what it needs)."""
    from functools import partial

    from churnguard.serving.holder import ModelHolder, limit_math_threads, load_version

    os.nice(settings.nice)
    limit_math_threads(settings.math_threads)
    parent = os.getppid()
    holder = ModelHolder(
        settings.tracking_uri,
        settings.model_name,
        settings.alias,
        settings.poll_interval_s,
        loader=partial(load_version, require_digest=settings.require_digest, signing_key=settings.signing_key),
        on_swap=lambda old, new: reports.put(("loaded", {"version": new.version})),
        on_refuse=lambda version, reason: reports.put(("failed", {"version": version, "reason": reason})),
        on_fail=lambda version, reason: reports.put(("failed", {"version": version, "reason": reason})),
        on_clear=lambda: reports.put(("cleared", {})),
        optional=True,
    )
    holder.start(wait=True)
    if holder.current is None:
        reports.put(("cleared", {}))
    writer = ArmLogWriter(Path(settings.log_dir))
    try:
        _serve_jobs(holder, jobs, reports, writer, parent)
    finally:
        holder.stop()
        writer.close()
        reports.put(("stopped", {}))


def _serve_jobs(holder: Any, jobs: Any, reports: Any, writer: ArmLogWriter, parent: int) -> None:
    while True:
        try:
            first = jobs.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the serving process is gone
                return
            continue
        batch, rows = [first], 0 if first is None else first.n
        while rows < MAX_ROWS and first is not None:
            try:
                job = jobs.get_nowait()
            except queue.Empty:
                break
            batch.append(job)
            rows += 0 if job is None else job.n
        stop = any(job is None for job in batch)
        work = [job for job in batch if job is not None]
        if work:
            _score(holder.current, work, reports, writer)
        if stop:
            return


def _score(model: Any, jobs: list[Job], reports: Any, writer: ArmLogWriter) -> None:
    """Score the queued requests with the challenger in one call; log both arms; report the numbers."""
    from churnguard.core.columns import from_records

    jobs = [j for j in jobs if model is not None and j.champion_version != model.version]
    if not jobs:
        return
    t0 = time.perf_counter()
    try:
        cols = from_records([r for j in jobs for r in j.records])
        scores = model.bundle.predict_columns(cols, sum(j.n for j in jobs), only_probability=True)
    except Exception as exc:  # an incompatible challenger must never stop the shadow process
        reports.put(("error", {"reason": f"v{model.version}: {type(exc).__name__}: {exc}"}))
        return
    seconds = time.perf_counter() - t0
    challenger = np.asarray(scores["churn_probability"], dtype=float)
    records, start, now = [], 0, time.time()
    for j in jobs:
        mine = challenger[start : start + j.n]
        start += j.n
        versions = {CHAMPION: j.champion_version, CHALLENGER: model.version}
        probs = {CHAMPION: j.champion_probability, CHALLENGER: mine.tolist()}
        records += log_records(j.ids, "shadow", [CHAMPION] * j.n, versions, probs, j.ts)
    writer.write(records)
    reports.put(
        (
            "scored",
            {
                "version": model.version,
                "champion": [p for j in jobs for p in j.champion_probability],
                "challenger": challenger.tolist(),
                "seconds": seconds,
                "lag_s": [now - j.ts for j in jobs],
            },
        )
    )
