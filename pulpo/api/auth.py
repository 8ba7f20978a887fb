"""API-key authentication for every ``/api/v1`` route."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from pulpo.api.errors import ApiError

_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")
_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token.")


def api_key_guard(
    keys: Callable[[], Sequence[str]], open_access: bool = False
) -> Callable[..., Awaitable[None]]:
    """A dependency: 401 without a key, 403 with a wrong one.

    With no keys it fails closed (503 saying how to configure one), unless
    ``open_access`` (``auth = "none"``, allowed on loopback only) lets everyone in.
    """

    async def require_api_key(
        header: Annotated[str | None, Security(_header)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> None:
        if open_access:
            return
        accepted = [key.encode() for key in keys()]
        if not accepted:
            raise ApiError(
                503,
                "the API has no key configured, so it refuses every request: run "
                "`pulpo api key` (or `pulpo up`) to create one, or set PULPO_API_KEYS",
            )
        supplied = (header or "").strip() or (bearer.credentials if bearer else None)
        if not supplied:
            raise ApiError(
                401,
                "missing API key: send `Authorization: Bearer <key>` or `X-API-Key: "
                "<key>` (`pulpo api key` prints it)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        candidate = supplied.encode()
        if not any(hmac.compare_digest(candidate, key) for key in accepted):
            raise ApiError(403, "wrong API key; `pulpo api key` prints the right one")

    return require_api_key
