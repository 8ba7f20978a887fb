"""``GET /metrics`` in Prometheus' text format, a request id on every answer, and one
log line per request that carries it (in place of uvicorn's access log).

Requests are counted and timed by route template (``/api/v1/runs/{run_id}``, not
each id), so the number of series stays bounded. Run counts by status and the queue
of pending runs are read from Prefect when scraped. Each API process has its own
registry: nothing is shared with Prefect's own metrics.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pulpo.observe.logs import request_id as current_request_id

REQUEST_ID = "x-request-id"
_GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SUBMISSION = re.compile(r"/api/v1/flows/([^/{}]+)/runs")  # one route per flow
_STATUSES = ("pending", "processing", "completed", "failed", "cancelled")
# INFO whatever the root logger's level (Prefect's configuration sets it to WARNING).
access_log = logging.getLogger("pulpo.api.access")
access_log.setLevel(logging.INFO)


class Metrics:
    """The API process's metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pulpo_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pulpo_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            registry=self.registry,
        )
        self.submitted = Counter(
            "pulpo_runs_submitted",
            "Flow runs accepted through the API, by flow.",
            ["flow"],
            registry=self.registry,
        )
        self.runs = Gauge(
            "pulpo_runs",
            "Flow runs of the project's work pool by status, when scraped.",
            ["status"],
            registry=self.registry,
        )
        self.pending = Gauge(
            "pulpo_runs_pending",
            "Flow runs waiting for a worker (the queue depth), when scraped.",
            registry=self.registry,
        )

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope.get("method", "")
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)
        submission = _SUBMISSION.fullmatch(route)
        if submission and method == "POST" and status == 202:
            self.submitted.labels(submission.group(1)).inc()


class RequestMetrics:
    """ASGI middleware: times each request, sends back its ``X-Request-ID`` (the
    client's own when it is a short token, else a new one) and logs one line for it.

    The id is also the context's ``pulpo.observe.logs.request_id`` while the request
    is answered, so that every line logged meanwhile carries it (in JSON logs).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = (
            dict(scope.get("headers", []))
            .get(REQUEST_ID.encode(), b"")
            .decode("latin-1")
        )
        request_id = given if _GIVEN_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID.encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe(scope, status, seconds)
            _log_request(scope, status, seconds)
            current_request_id.reset(token)


def _log_request(scope: Scope, status: int, seconds: float) -> None:
    """``127.0.0.1:50312 - "GET /api/v1/runs HTTP/1.1" 200 (4.1 ms, request …)``."""
    client = scope.get("client")
    where = f"{client[0]}:{client[1]}" if client else "-"
    path = scope.get("path", "")
    if scope.get("query_string"):
        path += "?" + scope["query_string"].decode("latin-1")
    method = scope.get("method", "")
    access_log.info(
        '%s - "%s %s HTTP/%s" %d (%.1f ms, request %s)',
        where,
        method,
        path,
        scope.get("http_version", "1.1"),
        status,
        seconds * 1000,
        current_request_id.get(),
        extra={
            "method": method,
            "path": path,
            "route": getattr(scope.get("route"), "path", None),
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
        },
    )


def metrics_router(
    metrics: Metrics,
    counts: Callable[[], Awaitable[Any]],
    dependencies: list[Any],
    ended: Callable[[], Awaitable[None]] | None = None,
) -> APIRouter:
    """``GET /metrics``; ``counts`` returns the processing status (run counts),
    ``ended`` counts the runs and operations that ended since the last scrape."""
    router = APIRouter()

    @router.get(
        "/metrics",
        tags=["health"],
        dependencies=dependencies,
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def scrape(request: Request) -> Response:
        """Counters and histograms in Prometheus' text format."""
        try:
            if ended is not None:
                await ended()
            status = await counts()
        except Exception:  # Prefect unreachable: the request metrics still count
            pass
        else:
            for name in _STATUSES:
                metrics.runs.labels(name).set(getattr(status, f"{name}_count"))
            metrics.pending.set(status.pending_count)
        return Response(
            generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    return router
