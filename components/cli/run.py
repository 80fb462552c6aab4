"""`churnguard run`: the main job — `dvc repro` end to end with stage progress, then a summary.

DVC's own output is followed line by line: each stage it runs or skips prints
``[k/N] stage <name>`` with the elapsed time, a heartbeat line appears when a stage has been
quiet for ``--heartbeat`` seconds, and each stage is one OpenTelemetry span ``stage <name>``
(exported only when ``OTEL_*`` asks for it, components/core/telemetry.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from churnguard.core.config import ROOT

RUNNING = re.compile(r"Running stage '([^']+)'")
SKIPPED = re.compile(r"Stage '([^']+)' didn't change, skipping")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="rerun every stage (dvc repro --force)")
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=20.0,
        help="seconds of silence after which a 'still running' line is printed (default 20)",
    )
    parser.add_argument("stage", nargs="?", help="reproduce only up to this stage (default: the whole pipeline)")


def stage_count() -> int:
    import yaml

    return len((yaml.safe_load((ROOT / "dvc.yaml").read_text()) or {}).get("stages") or {})


@dataclass
class Progress:
    """Turns DVC's output into "[k/N] stage name" lines, a heartbeat and one span per stage."""

    total: int
    heartbeat_s: float = 20.0
    t0: float = field(default_factory=time.perf_counter)
    k: int = 0
    current: str | None = None
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    last_output: float = field(default_factory=time.perf_counter)
    _spans: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def elapsed(self) -> str:
        return f"{time.perf_counter() - self.t0:6.0f} s"

    def line(self, text: str) -> None:
        self.last_output = time.perf_counter()
        if (m := RUNNING.search(text)) is not None:
            self._start(m.group(1))
        elif (m := SKIPPED.search(text)) is not None:
            self.k += 1
            self.skipped.append(m.group(1))
            print(f"[{self.k}/{self.total}] {self.elapsed()}  stage {m.group(1)}: up to date, skipped", flush=True)
            return
        print(text, end="" if text.endswith("\n") else "\n", flush=True)

    _tracer: Any = None  # tests pass their own; default: the process tracer (no-op unless OTEL_* says so)

    def _start(self, name: str) -> None:
        from churnguard.core.telemetry import tracer

        self.close_span()
        self.k += 1
        self.current = name
        self.ran.append(name)
        self._spans.enter_context((self._tracer or tracer(__name__)).start_as_current_span(f"stage {name}"))
        print(f"[{self.k}/{self.total}] {self.elapsed()}  stage {name}", flush=True)

    def close_span(self) -> None:
        self._spans.close()
        self._spans = contextlib.ExitStack()

    def beat(self) -> None:
        quiet = time.perf_counter() - self.last_output
        if self.current and quiet >= self.heartbeat_s:
            print(
                f"      {self.elapsed()}  ... stage {self.current} still running ({quiet:.0f} s without output)",
                flush=True,
            )
            self.last_output = time.perf_counter()

    def summary(self) -> str:
        return (
            f"{len(self.ran)} stage(s) ran ({', '.join(self.ran) or 'none'}), {len(self.skipped)} up to date; "
            f"{time.perf_counter() - self.t0:.0f} s wall"
        )


def repro(cmd: list[str], env: dict[str, str], progress: Progress) -> int:
    """Run DVC with stdout followed line by line (stderr, where progress bars go, stays the terminal's)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, bufsize=1)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(min(5.0, progress.heartbeat_s)):
            progress.beat()

    threading.Thread(target=heartbeat, daemon=True).start()
    try:
        assert proc.stdout is not None  # started with stdout=PIPE
        for text in proc.stdout:
            progress.line(text)
        return proc.wait()
    finally:
        stop.set()
        progress.close_span()


def run(args: argparse.Namespace) -> int:
    from churnguard.cli.summary import print_summary
    from churnguard.core.telemetry import init_tracing, shutdown_tracing

    init_tracing("churnguard-pipeline")
    # Stages call the venv's interpreter by a repo-relative path; PATH keeps plain `python` working too.
    env = dict(
        os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONUNBUFFERED="1"
    )
    if not sys.stderr.isatty():  # a log file: carriage-return bars would fill it; our stage lines remain
        env.update(TQDM_DISABLE="1", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    cmd = [
        str(Path(sys.executable).parent / "dvc"),
        "repro",
        *(["--force"] if args.force else []),
        *([args.stage] if args.stage else []),
    ]
    progress = Progress(total=stage_count(), heartbeat_s=args.heartbeat)
    try:
        rc = repro(cmd, env, progress)
    finally:
        shutdown_tracing()
    if rc != 0:
        failed = f" in stage {progress.current}" if progress.current else ""
        print(
            f"\npipeline FAILED{failed} (exit {rc}); {progress.summary()}. Nothing was registered by the failing run."
        )
        return rc
    print(f"\npipeline finished: {progress.summary()}")
    return print_summary()
