"""``create_app``: the UI server that ``pulpo ui start`` runs under uvicorn.

It serves the pages in ``static/`` and forwards ``/api/*``, ``/health`` and
``/openapi.json`` to the project's API, adding the project's key on the way: the key
never reaches the browser. Because whoever reaches this server acts with that key, it
listens on loopback only (``ui_host`` refuses anything else) and guards against other
web pages using it through the user's browser (docs/decisions/0019-ui-service.md):

- the ``Host`` header must name a loopback address (against DNS rebinding);
- forwarded requests must carry ``X-Pulpo-UI: 1``, a header a page on another origin
  cannot send without a CORS preflight, which this server never answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from pulpo.api_keys import current_keys
from pulpo.observe.logs import use_json_logs_without_prefect
from pulpo.project import Project
from pulpo.ui.upstream import upstream_api_url

STATIC = Path(__file__).with_name("static")
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
GUARD_HEADER = "x-pulpo-ui"
# Request headers the API needs from the browser; everything else stays here.
FORWARDED_REQUEST = ("content-type", "if-match", "idempotency-key", "accept")
FORWARDED_RESPONSE = ("content-type", "etag", "location", "retry-after")
API_TIMEOUT = 60.0
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def api_down(api_url: str, reason: str) -> JSONResponse:
    """What the pages show when the API does not answer: which service, which fix."""
    return JSONResponse(
        {
            "error": f"the api service does not answer at {api_url} ({reason}); "
            f"start it with `pulpo api start`",
            "details": {"service": "api", "fix": "pulpo api start"},
        },
        status_code=502,
        headers={"x-pulpo-api-down": "1"},
    )


def create_app(root: Path | None = None) -> Starlette:
    """The UI of the project at ``root`` (default: the working directory, where the
    ``ui`` service runs), forwarding to its API at ``settings.api_url``."""
    project = Project.find(root)
    settings = project.settings
    if settings.log_format == "json":
        use_json_logs_without_prefect()
    keys = current_keys(project)
    api_url = upstream_api_url(settings)
    prefect_host = f"http://{settings.host}:{settings.prefect_port}"

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=api_url, timeout=API_TIMEOUT) as client:
            app.state.client = client
            yield

    async def forward(request: Request) -> Response:
        if request.headers.get(GUARD_HEADER) != "1":
            return JSONResponse(
                {"error": f"requests through the UI need the {GUARD_HEADER} header"},
                status_code=403,
            )
        headers = {
            name: request.headers[name]
            for name in FORWARDED_REQUEST
            if name in request.headers
        }
        found = keys()
        if found:
            headers["x-api-key"] = found[0]
        client: httpx.AsyncClient = request.app.state.client
        try:
            answer = await client.request(
                request.method,
                request.url.path,
                params=request.url.query,
                content=await request.body(),
                headers=headers,
            )
        except httpx.TransportError as error:
            return api_down(api_url, type(error).__name__)
        return Response(
            answer.content,
            status_code=answer.status_code,
            headers={
                name: answer.headers[name]
                for name in FORWARDED_RESPONSE
                if name in answer.headers
            },
        )

    async def config(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "project": project.name,
                "api": settings.api_url,
                "prefect_ui": prefect_host,
            }
        )

    async def live(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    methods = ["GET", "POST", "PATCH", "DELETE"]
    routes = [
        Route("/ui/live", live),
        Route("/ui/config", config),
        Route("/health", forward, methods=["GET"]),
        Route("/openapi.json", forward, methods=["GET"]),
        Route("/api/{path:path}", forward, methods=methods),
        Mount("/", StaticFiles(directory=STATIC, html=True)),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS),
        ],
    )
