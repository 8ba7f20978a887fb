"""Schemathesis hooks for the fuzz test: a client that uses Idempotency-Key as meant.

Generated keys repeat ("null", "0") across different requests, which the API rightly
refuses (422, the key was used for another request); a real client sends a new key
for each new request.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis


@schemathesis.hook
def map_headers(context: Any, headers: dict[str, str] | None) -> dict[str, str] | None:
    if headers and "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    return headers
