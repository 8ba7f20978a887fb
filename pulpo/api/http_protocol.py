"""``BoundedH11Protocol``: uvicorn's h11 protocol with a deadline for reading requests.

uvicorn bounds header bytes (``--h11-max-incomplete-event-size``) and idle keep-alive
time, but a client that connects and sends nothing, or a header or a body a byte at a
time, holds its connection for ever; 256 such connections reach ``--limit-concurrency``
and every other client gets 503. Here each request must arrive whole (head and body)
within :data:`REQUEST_READ_SECONDS` of the connection opening or of its first byte,
or the connection is closed. Serve with ``uvicorn --http
pulpo.api.http_protocol:BoundedH11Protocol`` (``pulpo api start`` does).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_READ_SECONDS = 10.0


class BoundedH11Protocol(H11Protocol):
    """h11 with a deadline for receiving each whole request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.cycle is not None and not self.cycle.more_body:
            self._disarm()  # the whole request is in

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(
                REQUEST_READ_SECONDS, self._too_slow
            )

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _too_slow(self) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
