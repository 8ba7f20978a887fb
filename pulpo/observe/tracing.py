"""OpenTelemetry traces (``pip install 'pulpo[otel]'``): one span per API request,
flow run and operation, in one trace from the API request that submits a run to the
operations the worker's flow run performs.

Prefect itself opens a span per flow run and per task run (an operation) on the
global tracer provider, and takes a flow run's parent from its
``__OTEL_TRACEPARENT`` label. pulpo installs that provider, exporting over OTLP/HTTP,
in each process that runs flows or serves the API, opens a span per API request, and
labels the runs a request creates with its ``traceparent`` (docs/decisions/0026).

On with ``tracing = true`` (``PULPO_TRACING=1``) or when
``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set; the
exporter reads the usual ``OTEL_*`` variables.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from pulpo.errors import ProjectError
from pulpo.observe.logs import service_name

# Prefect's label for a flow run's parent span (prefect.telemetry.run_telemetry).
TRACEPARENT_LABEL = "__OTEL_TRACEPARENT"
ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_started = False


def endpoint_set() -> bool:
    """Whether an OTLP endpoint is configured in the environment."""
    return any(os.environ.get(name) for name in ENDPOINTS)


def start_tracing(asked: bool = False) -> bool:
    """Install a tracer provider exporting spans over OTLP/HTTP, once per process.

    Tracing is on when ``asked`` (the ``tracing`` setting) or an OTLP endpoint is set.
    A tracer provider the process already has (set up by the user, or by
    ``opentelemetry-instrument``) is kept. Returns whether this process traces.

    Raises:
        ProjectError: ``tracing = true`` and the ``otel`` extra is not installed (with
            only an endpoint in the environment, a warning is logged instead).
    """
    global _started
    if _started:
        return True
    if not (asked or endpoint_set()):
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        problem = (
            "OpenTelemetry's SDK is not installed; install it with `pip install "
            "'pulpo[otel]'`"
        )
        if not asked:  # an endpoint meant for other programs need not stop runs
            logging.getLogger("pulpo.tracing").warning(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but %s to trace pulpo's runs",
                problem,
            )
            return False
        raise ProjectError(
            f"tracing = true, but {problem} or set tracing = false"
        ) from None
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        service = service_name()
        name = os.environ.get("OTEL_SERVICE_NAME") or f"pulpo-{service}"
        provider = TracerProvider(
            resource=Resource.create({"service.name": name, "pulpo.service": service})
        )
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    _started = True
    return True


def start_tracing_from_environment() -> bool:
    """:func:`start_tracing` with the ``tracing`` setting handed down to this process."""
    from pulpo.settings import Settings

    try:
        asked = Settings.from_environment().tracing
    except ProjectError:  # reported where the settings are used
        asked = False
    return start_tracing(asked)


def traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, when tracing."""
    if not _started:
        return None
    from opentelemetry import propagate

    carrier: dict[str, Any] = {}
    propagate.inject(carrier)
    value = carrier.get("traceparent")
    return str(value) if value else None


def run_labels() -> dict[str, str]:
    """Labels for a flow run created now, so that its span continues this trace."""
    parent = traceparent()
    return {TRACEPARENT_LABEL: parent} if parent else {}
