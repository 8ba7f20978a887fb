"""One OpenTelemetry span per API request, when tracing is on (``pulpo.observe.tracing``).

The span continues the caller's trace when the request carries a ``traceparent``
header, and is the current span while the request is answered, so that the runs the
request creates continue it (``JobService`` labels them with it).
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestSpans:
    """ASGI middleware: a server span per HTTP request, named by method and route."""

    def __init__(self, app: ASGIApp) -> None:
        from opentelemetry import trace

        self.app = app
        self.tracer = trace.get_tracer("pulpo.api")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind, Status, StatusCode

        headers = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers", [])
        }
        method = scope.get("method", "")
        status = 500
        with self.tracer.start_as_current_span(
            f"{method} {scope.get('path', '')}",
            context=propagate.extract(headers),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope.get("path", ""),
            },
        ) as span:

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, send_status)
            finally:
                route: Any = getattr(scope.get("route"), "path", None)
                if route:  # by template: one name per route, not per id
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                # Given by pulpo.api.metrics.RequestMetrics, inside this middleware.
                request_id = scope.get("state", {}).get("request_id")
                if request_id:
                    span.set_attribute("pulpo.request_id", request_id)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
