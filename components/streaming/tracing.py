"""W3C trace context through Kafka: the producer puts ``traceparent``/``tracestate`` in the
message headers, the feature job continues that trace per micro-batch.

Only the OpenTelemetry API is used here (:mod:`churnguard.core.telemetry` installs the SDK when the
``OTEL_*`` environment asks for it). A micro-batch holds events of many producers: its span
``churnguard.stream.batch`` has the first traced event's context as parent (so a single event's
trace reads producer -> batch -> score / Redis write) and a span link to every distinct traced
event context (up to :data:`MAX_LINKS`), the OpenTelemetry messaging convention for batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanKind

from churnguard.core import telemetry

TRACE_HEADERS = ("traceparent", "tracestate")
MAX_LINKS = 64
HEADER_MAX = 512  # a longer (hostile) trace header is ignored, not parsed


def _tracer() -> trace.Tracer:
    return telemetry.tracer("churnguard.streaming")


def context_headers() -> list[tuple[str, bytes]]:
    """The current trace context as Kafka headers ([] when no span is recording)."""
    return [(k, v.encode()) for k, v in telemetry.inject_context({}).items()]


def _record_context(headers: Any) -> trace.SpanContext | None:
    carrier = {}
    for item in headers:
        if len(item) == 2 and item[0] in TRACE_HEADERS and isinstance(item[1], bytes) and len(item[1]) <= HEADER_MAX:
            carrier[item[0]] = item[1].decode("ascii", "replace")
    if not carrier:
        return None
    ctx = trace.get_current_span(telemetry.extract_context(carrier)).get_span_context()
    return ctx if ctx.is_valid else None


def producer_contexts(records: list[Any]) -> list[trace.SpanContext]:
    """Distinct valid trace contexts carried by the records' headers, in record order."""
    out, seen = [], set()
    for r in records:
        if not r.headers:
            continue
        ctx = _record_context(r.headers)
        if ctx is not None and (ctx.trace_id, ctx.span_id) not in seen:
            seen.add((ctx.trace_id, ctx.span_id))
            out.append(ctx)
    return out


def start_batch_span(records: list[Any]) -> trace.Span:
    contexts = producer_contexts(records)
    parent = trace.set_span_in_context(NonRecordingSpan(contexts[0])) if contexts else None
    return _tracer().start_span(
        "churnguard.stream.batch",
        context=parent,
        kind=SpanKind.CONSUMER,
        links=[Link(c) for c in contexts[:MAX_LINKS]],
        attributes={"messaging.batch.message_count": len(records), "churnguard.traced_messages": len(contexts)},
    )


@contextlib.contextmanager
def child_span(batch: trace.Span | None, name: str, **attributes: Any) -> Iterator[trace.Span | None]:
    """A span under the micro-batch's span (nothing at all when the batch is not traced)."""
    if batch is None:
        yield None
        return
    with _tracer().start_as_current_span(name, context=trace.set_span_in_context(batch), attributes=attributes) as span:
        yield span


@contextlib.contextmanager
def produce_span(name: str = "churnguard.replay.produce", **attributes: Any) -> Iterator[list[tuple[str, bytes]]]:
    """A PRODUCER span for one message; yields the headers that carry its context."""
    with _tracer().start_as_current_span(name, kind=SpanKind.PRODUCER, attributes=attributes):
        yield context_headers()


@contextlib.contextmanager
def traced_run(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """A span around a whole run (e.g. a replay): the message spans become its children."""
    with _tracer().start_as_current_span(name, attributes=attributes) as span:
        yield span
