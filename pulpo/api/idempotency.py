"""``Idempotency-Key``: a create or run submission sent twice takes effect once.

A client whose request timed out sends it again with the same key and gets the same
document or run back instead of a second one. Keys of document creates are kept in the
collection ``pulpo_idempotency_keys`` of the project's database for
:data:`RETENTION`; keys of run submissions live as long as the run (Prefect's own
``idempotency_key``).
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Header
from pymongo.errors import DuplicateKeyError

from pulpo.api.errors import ApiError

KEYS_COLLECTION = "pulpo_idempotency_keys"
RETENTION = datetime.timedelta(hours=24)
# A claim this old with no answer is from a process that died mid-request.
ABANDONED = datetime.timedelta(minutes=1)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[!-~]+$",
        description="Send the same key again (e.g. after a timeout) to get the first "
        "answer instead of a second document or run.",
    ),
]


def fingerprint(payload: Any) -> str:
    """A digest of a request body: the same key must come with the same body."""
    data = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def reused(key: str) -> ApiError:
    return ApiError(
        422,
        f"Idempotency-Key {key!r} was sent before with a different request; use a new "
        f"key for a new request",
        {"field": "header.Idempotency-Key"},
    )


async def create_once(
    database: Any,
    scope: str,
    key: str,
    payload: Any,
    create: Callable[[], Awaitable[dict[str, Any]]],
) -> tuple[dict[str, Any], bool]:
    """The answer to the first request with ``key`` in ``scope``, and whether it is a
    replay; ``create()`` runs only for the first one.

    A claim is inserted before ``create()`` runs (its ``_id`` is unique, so of two
    concurrent requests one wins) and holds the answer afterwards. A failed create
    drops the claim, so the same request can be sent again.
    """
    records = database[KEYS_COLLECTION]
    claim_id = f"{scope}:{key}"
    digest = fingerprint(payload)
    now = datetime.datetime.now(datetime.UTC)
    for _ in range(2):
        try:
            await records.insert_one({"_id": claim_id, "digest": digest, "at": now})
            break
        except DuplicateKeyError:
            earlier = await records.find_one({"_id": claim_id})
            if earlier is None:
                continue  # dropped meanwhile: claim it now
            at = earlier["at"].replace(tzinfo=datetime.UTC)
            stale = RETENTION if "answer" in earlier else ABANDONED
            if now - at > stale:
                await records.delete_one({"_id": claim_id, "at": earlier["at"]})
                continue
            if earlier["digest"] != digest:
                raise reused(key) from None
            if "answer" not in earlier:
                raise ApiError(
                    409,
                    f"a request with Idempotency-Key {key!r} is still being processed; "
                    f"send it again in a moment",
                    headers={"Retry-After": "1"},
                ) from None
            return orjson.loads(earlier["answer"]), True
    else:
        raise ApiError(409, f"Idempotency-Key {key!r} is contended; send it again")
    try:
        answer = await create()
    except BaseException:
        await records.delete_one({"_id": claim_id})
        raise
    await records.update_one(
        {"_id": claim_id}, {"$set": {"answer": orjson.dumps(answer).decode()}}
    )
    return answer, False
