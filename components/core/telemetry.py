"""OpenTelemetry tracing, configured by the standard ``OTEL_*`` environment variables.

Code everywhere uses only the OpenTelemetry *API* (``tracer(__name__)``, ``inject``/``extract``):
without a configured SDK those calls are no-ops that cost nanoseconds. A process entry point
(serve, stream, replay, a pipeline stage) calls :func:`init_tracing` once; it installs the SDK
only when tracing is asked for, so nothing is exported and nothing changes by default.

Turned on by either
- ``OTEL_TRACES_EXPORTER`` = ``otlp`` (OTLP over HTTP, endpoint from
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, e.g. Jaeger's
  ``http://jaeger:4318``) or ``console`` (JSON spans on stdout, for debugging), or
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` alone (means otlp).
``OTEL_TRACES_EXPORTER=none`` or ``OTEL_SDK_DISABLED=true`` keeps it off. ``OTEL_SERVICE_NAME``
overrides the service name; sampling follows ``OTEL_TRACES_SAMPLER`` as the SDK reads it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

from opentelemetry import propagate, trace

_configured = False


def tracing_exporter_name(env: Mapping[str, str] = os.environ) -> str | None:
    """Which exporter the environment asks for (``otlp``, ``console``) or None when tracing is off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    name = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if name in ("", "otlp_proto_http") and (
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    ):
        return "otlp"
    if name in ("otlp", "otlp_proto_http", "console"):
        return "otlp" if name.startswith("otlp") else name
    if name not in ("", "none"):
        raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: churnguard supports otlp, console or none")
    return None


def init_tracing(service_name: str, exporter=None) -> bool:
    """Install the tracing SDK for this process if the environment asks for it (or ``exporter`` is given).

    ``exporter``: a span exporter to use instead of the environment's (tests pass an in-memory one).
    Returns True when spans are being exported. Idempotent: the first call installs the SDK (its
    service name stays); a later call with an ``exporter`` adds it, so that several in-memory
    exporters of one test session each receive the spans made after they were added.
    """
    global _configured
    if _configured:
        if exporter is not None:
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[attr-defined]
        return True
    name = None if exporter is not None else tracing_exporter_name()
    if exporter is None and name is None:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True
    return True


def shutdown_tracing() -> None:
    """Flush and stop the exporter (call at process exit so the last spans are sent)."""
    provider = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_context(carrier: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Write the current trace context (W3C ``traceparent``) into a carrier, e.g. Kafka headers."""
    propagate.inject(carrier)
    return carrier


def extract_context(carrier: Mapping[str, str]):
    """The trace context carried by ``carrier`` (e.g. a Kafka message's headers), for ``start_span(context=...)``."""
    return propagate.extract(carrier)
