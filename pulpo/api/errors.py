"""Every API error is JSON ``{"error": "...", "details": ...}`` with a fitting status."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from pulpo.api.patience import TRANSIENT_STATUSES

logger = logging.getLogger("pulpo.api")
LOGGED_CHARACTERS = 2000


class ErrorBody(BaseModel):
    """What every failed request returns."""

    error: str
    details: Any = None


class ApiError(Exception):
    """A request the API refuses; ``error`` says why and what to do instead."""

    def __init__(
        self,
        status: int,
        error: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details
        self.headers = headers


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Bad request"),
        (401, "No API key"),
        (403, "Wrong API key"),
        (404, "Not found"),
        (409, "Conflicts with the current state"),
        (412, "The document changed since the ETag sent in If-Match"),
        (413, "Request body too large"),
        (422, "Invalid parameters or body"),
        (502, "The Prefect server failed on this request"),
        (503, "The Prefect server or database is unavailable"),
    )
}


def validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors as ``{"field", "message", "type"}`` (inputs left out: no echo)."""
    return [
        {
            "field": ".".join(
                str(part)
                for part in error.get("loc", ())[
                    : 1 if error.get("type") == "json_invalid" else None
                ]
            ),
            "message": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in errors
    ]


def invalid(details: list[dict[str, Any]]) -> ApiError:
    fields = ", ".join(dict.fromkeys(d["field"] for d in details if d["field"]))
    first = details[0]["message"] if details else "invalid input"
    where = f" in {fields}" if fields else ""
    return ApiError(422, f"invalid request{where}: {first}", details)


def install_error_handlers(app: FastAPI) -> None:
    """Turn every failure into the JSON error body; unexpected ones are logged."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return _response(error)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        message = error.detail if isinstance(error.detail, str) else "request failed"
        if error.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}; see /docs"
        headers = dict(error.headers) if error.headers else None
        if error.status_code == 405:
            allowed = _allowed_methods(request)
            message = (
                f"{request.method} is not allowed on {request.url.path}; use "
                f"{', '.join(allowed)}"
            )
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return _response(ApiError(error.status_code, message, None, headers))

    @app.exception_handler(RequestValidationError)
    async def request_invalid(
        request: Request, error: RequestValidationError
    ) -> JSONResponse:
        return _response(invalid(validation_details(error.errors())))

    @app.exception_handler(ValidationError)
    async def model_invalid(request: Request, error: ValidationError) -> JSONResponse:
        details = validation_details(error.errors())
        for detail in details:
            detail["field"] = f"body.{detail['field']}".rstrip(".")
        return _response(invalid(details))

    @app.exception_handler(httpx.HTTPError)
    async def prefect_unavailable(
        request: Request, error: httpx.HTTPError
    ) -> JSONResponse:
        status = (
            error.response.status_code
            if isinstance(error, httpx.HTTPStatusError)
            else None
        )
        logger.warning(
            "Prefect server error in %s: %s",
            request.url.path,
            _bounded(str(error)),
        )
        if status is not None and 400 <= status < 500 and status not in (401, 403):
            # The request itself was refused (too large, not storable): retrying the
            # same request cannot help.
            return _response(
                ApiError(
                    422,
                    f"the Prefect server refused this request ({status}); check the "
                    f"parameters' size and values",
                )
            )
        if status is not None and status not in TRANSIENT_STATUSES:
            # Prefect failed on this request itself (often on data it cannot return):
            # the same request fails again, so no Retry-After.
            return _response(
                ApiError(
                    502,
                    f"the Prefect server failed on this request ({status}); see "
                    f"`pulpo logs prefect`",
                )
            )
        return _response(
            ApiError(
                503,
                "the Prefect server did not answer as expected; check `pulpo status` "
                "and `pulpo logs prefect`, then try again",
                headers={"Retry-After": "5"},
            )
        )

    @app.exception_handler(ConnectionFailure)
    async def database_unavailable(
        request: Request, error: ConnectionFailure
    ) -> JSONResponse:
        logger.warning("database error in %s: %s", request.url.path, error)
        return _response(
            ApiError(
                503,
                "the database does not answer; check `pulpo status` and `pulpo logs db`",
                headers={"Retry-After": "5"},
            )
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error in %s %s", request.method, request.url.path)
        return _response(
            ApiError(500, "internal server error; see the API log (pulpo api logs)")
        )


def _bounded(text: str, limit: int = LOGGED_CHARACTERS) -> str:
    """``text`` cut to ``limit`` characters: one request must not flood the log."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def _allowed_methods(request: Request) -> list[str]:
    """Every method the API documents at this path (Starlette names only the first)."""
    path = request.url.path
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        if compile_path(template)[0].match(path):
            methods.update(method.upper() for method in operations)
    return sorted(methods)


def _response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        {"error": error.error, "details": error.details},
        status_code=error.status,
        headers=error.headers,
    )
