"""Trace context through Kafka (issue #17): `churnguard replay` puts W3C trace context in the
message headers, `churnguard stream` continues it, so one trace reads producer -> micro-batch ->
score and Redis write. Real broker, real Redis, the private workspace's MLflow champion; spans
from `OTEL_TRACES_EXPORTER=console` on the subprocesses' stdout, and the same trace in-process with
an in-memory exporter. Also: /metrics on a chosen host."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pandas as pd
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from churnguard.core import telemetry
from churnguard.core.online_store import read_online
from churnguard.streaming.broker import free_port
from churnguard.streaming.job import FeatureJob
from churnguard.streaming.metrics import JobMetrics
from churnguard.streaming.replayer import encode_events, publish
from churnguard.streaming.scoring import RealtimeScorer
from tests.streaming.conftest import delete_prefix, make_config
from tests.streaming.test_stream import stream_cmd, write_topics
from tests.workspace import REPO


def console_spans(stdout: str) -> list[dict]:
    """The JSON span objects ConsoleSpanExporter printed, skipping the commands' own lines."""
    dec, out, i = json.JSONDecoder(), [], 0
    while (i := stdout.find("{\n", i)) >= 0:
        obj, i = dec.raw_decode(stdout, i)
        if isinstance(obj, dict) and "context" in obj:
            out.append(obj)
    return out


def env_for(ws, cfg, otel: bool) -> dict[str, str]:
    env = {k: v for k, v in ws.env.items() if not k.startswith("OTEL_")}
    env["CHURNGUARD_KAFKA_BOOTSTRAP"] = cfg.bootstrap_servers
    if otel:
        env["OTEL_TRACES_EXPORTER"] = "console"
    return env


def run(cmd, env) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def test_one_trace_from_producer_to_batch_to_redis_write_and_score(stream_workspace, broker, redis_db1, tmp_path):
    ws = stream_workspace
    events = pd.read_parquet(ws.root / "data" / "raw" / "events.parquet")
    user = events["user_id"].iloc[0]
    mine = events[events["user_id"] == user].sort_values(["ts", "event_id"]).head(4)
    path = tmp_path / "events.parquet"
    mine.to_parquet(path)
    cfg = make_config(broker.bootstrap, partitions=1)
    write_topics(ws, cfg)
    try:
        replay = run(
            [
                sys.executable,
                "-m",
                "churnguard.cli",
                "replay",
                "--events",
                str(path),
                "--bootstrap",
                cfg.bootstrap_servers,
            ],
            env_for(ws, cfg, otel=True),
        )
        stream = run(stream_cmd(cfg, cfg.key_prefix, cfg.group_id + "t"), env_for(ws, cfg, otel=True))
        quiet = run(stream_cmd(cfg, cfg.key_prefix + "quiet:", cfg.group_id + "q"), env_for(ws, cfg, otel=False))
    finally:
        delete_prefix(redis_db1, cfg.key_prefix)
    produced = console_spans(replay.stdout)
    root = next(s for s in produced if s["name"] == "churnguard.replay")
    sends = [s for s in produced if s["name"] == "churnguard.replay.produce"]
    trace_id = root["context"]["trace_id"]
    assert len(sends) == 4 and {s["context"]["trace_id"] for s in sends} == {trace_id}
    spans = console_spans(stream.stdout)
    batch = next(s for s in spans if s["name"] == "churnguard.stream.batch")
    assert batch["context"]["trace_id"] == trace_id
    assert batch["parent_id"] in {s["context"]["span_id"] for s in sends}
    linked = {
        link["context"]["span_id"] for b in spans if b["name"] == "churnguard.stream.batch" for link in b["links"]
    }
    assert linked == {s["context"]["span_id"] for s in sends}
    for name in ("churnguard.stream.score", "churnguard.stream.redis_write"):
        child = next(s for s in spans if s["name"] == name and s["parent_id"] == batch["context"]["span_id"])
        assert child["context"]["trace_id"] == trace_id, name
    assert batch["resource"]["attributes"]["service.name"] == "churnguard-stream"
    # with OTEL_* unset nothing is exported (the job still scored and wrote the same events)
    assert console_spans(quiet.stdout) == [] and '"trace_id"' not in quiet.stdout
    assert "applied 4" in quiet.stdout


def test_in_memory_trace_producer_to_batch_to_score_and_redis_write(stream_workspace, broker, redis_db1):
    """The same trace in-process, with an in-memory exporter (issue #17's acceptance): the replayer
    publishes 4 traced events, the job (real champion bundle of the workspace) scores and writes them."""
    ws = stream_workspace
    exporter = InMemorySpanExporter()
    assert telemetry.init_tracing("churnguard-stream", exporter=exporter)
    events = pd.read_parquet(ws.root / "data" / "raw" / "events.parquet")
    user = events["user_id"].iloc[0]
    cfg = make_config(broker.bootstrap, partitions=1)
    try:
        publish(
            cfg, encode_events(events[events["user_id"] == user].sort_values(["ts", "event_id"]).head(4)), trace=True
        )
        scorer = RealtimeScorer(str(ws.root / "models"), str(ws.root / "data" / "features" / "customers.parquet"))
        FeatureJob(cfg, scorer=scorer, tracing=True).run(until_caught_up=True, timeout_s=60)
        row = read_online(redis_db1, user, cfg.key_prefix)
    finally:
        delete_prefix(redis_db1, cfg.key_prefix)
    assert row["events_total"] == 4 and 0.0 <= row["rt_churn_probability"] <= 1.0
    spans = exporter.get_finished_spans()
    (root,) = [s for s in spans if s.name == "churnguard.replay"]
    sends = [s for s in spans if s.name == "churnguard.replay.produce"]
    assert len(sends) == 4 and {s.parent.span_id for s in sends} == {root.context.span_id}
    (batch,) = [s for s in spans if s.name == "churnguard.stream.batch"]
    assert batch.context.trace_id == root.context.trace_id
    assert batch.parent.span_id in {s.context.span_id for s in sends}
    assert {link.context.span_id for link in batch.links} == {s.context.span_id for s in sends}
    for name in ("churnguard.stream.score", "churnguard.stream.redis_write"):
        (child,) = [s for s in spans if s.name == name]
        assert child.parent.span_id == batch.context.span_id and child.context.trace_id == root.context.trace_id


def test_metrics_bind_to_the_configured_host():
    metrics, port = JobMetrics(), free_port()
    metrics.events.labels("applied").inc(3)
    server, _thread = metrics.serve(port, "127.0.0.2")  # any loopback address, like 0.0.0.0 in compose
    try:
        body = urllib.request.urlopen(f"http://127.0.0.2:{port}/metrics", timeout=5).read().decode()
        assert 'churnguard_stream_events_total{outcome="applied"} 3.0' in body
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
            raise AssertionError("bound to 127.0.0.1 as well")
        except OSError:
            pass
    finally:
        server.shutdown()
        server.server_close()
