"""The body size limit, declared (Content-Length) and streamed (chunked)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from pulpo.api.errors import install_error_handlers
from pulpo.api.limits import BodySizeLimit


class Echo(BaseModel):
    text: str


def post(**request: Any) -> httpx.Response:
    """POST /echo to an app behind the limit, in process (ASGI, no socket)."""
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=1024)

    @app.post("/echo")
    async def echo(body: Echo) -> Echo:
        return body

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.post("/echo", **request)

    return asyncio.run(send())


def test_small_bodies_pass() -> None:
    assert post(json={"text": "hi"}).json() == {"text": "hi"}


def test_a_declared_large_body_is_refused_before_reading() -> None:
    response = post(json={"text": "x" * 2000})
    assert response.status_code == 413
    assert response.json() == {
        "error": "request body larger than 1 KiB",
        "details": None,
    }


def test_a_streamed_large_body_is_refused_while_reading() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 200
        yield b'"}'

    response = post(content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]
