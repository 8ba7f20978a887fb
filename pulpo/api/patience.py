"""``patiently``: Prefect calls tried again, quickly, while the server is busy.

Prefect's SQLite server refuses a write that meets another with 503 ("database is
locked"); its client waits 2, 4, 8 s before trying again, so 16 clients submitting
runs waited up to 15 s each. The API's client does not retry (the api service sets
``PREFECT_CLIENT_MAX_RETRIES=0``); this does, after pauses from 20 ms doubling to
half a second, for at most ``patience`` seconds.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

T = TypeVar("T")
# Statuses that mean busy or restarting: the same request can succeed a moment later.
TRANSIENT_STATUSES = frozenset({408, 429, 502, 503, 504})
FIRST_PAUSE = 0.02
LONGEST_PAUSE = 0.5


def is_transient(error: BaseException) -> bool:
    """True for a failure that trying the same request again can cure."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code in TRANSIENT_STATUSES
    # The server restarted or closed a kept-alive connection (it does after a 500).
    return isinstance(
        error, (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)
    )


async def patiently(call: Callable[[], Awaitable[T]], patience: float = 15.0) -> T:
    """``await call()``, again after short pauses while the failure is transient."""
    deadline = time.monotonic() + patience
    pause = FIRST_PAUSE
    while True:
        try:
            return await call()
        except Exception as error:
            if not is_transient(error) or time.monotonic() + pause > deadline:
                raise
        await asyncio.sleep(pause * random.uniform(0.5, 1.5))
        pause = min(pause * 2, LONGEST_PAUSE)
