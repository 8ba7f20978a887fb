"""ETags, Idempotency-Key fingerprints and which Prefect failures are tried again."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess

import httpx
import pytest
from bson import ObjectId

from pulpo.api.crud import etag, etag_matches
from pulpo.api.idempotency import fingerprint
from pulpo.api.jobs import process_gone
from pulpo.api.patience import is_transient, patiently


def test_the_etag_changes_with_any_stored_value() -> None:
    id_ = ObjectId()
    first = etag({"_id": id_, "title": "a", "tags": ["x"]})
    assert first == etag({"_id": id_, "title": "a", "tags": ["x"]})
    assert first != etag({"_id": id_, "title": "a", "tags": ["x", "y"]})
    assert first.startswith('"') and first.endswith('"')


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('W/"abc"', False),
        ('"ab"', False),
    ],
)
def test_if_match_names_the_current_tag_or_any(header: str, matches: bool) -> None:
    assert etag_matches(header, '"abc"') is matches


def test_a_fingerprint_ignores_key_order_only() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://prefect/api/flow_runs/")
    return httpx.HTTPStatusError(
        "x", request=request, response=httpx.Response(status, request=request)
    )


def test_busy_answers_are_transient_failures_on_the_data_are_not() -> None:
    assert is_transient(status_error(503)) and is_transient(status_error(429))
    assert not is_transient(status_error(500)) and not is_transient(status_error(422))
    assert is_transient(httpx.ReadError("closed"))
    assert not is_transient(ValueError("bug"))


def test_patiently_tries_a_busy_call_again_and_gives_up_on_others() -> None:
    answers: list[BaseException | str] = [status_error(503), status_error(503), "ok"]

    async def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    assert asyncio.run(patiently(call)) == "ok"
    answers[:] = [status_error(500), "never"]
    with pytest.raises(httpx.HTTPStatusError):
        asyncio.run(patiently(call))
    assert answers == ["never"]


def test_a_run_process_is_gone_only_when_this_machine_shows_it_ended() -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()
    assert process_gone(str(ended.pid))
    assert process_gone(f"{socket.gethostname()}:{ended.pid}")
    assert not process_gone(str(os.getpid()))
    assert not process_gone(f"elsewhere:{ended.pid}")  # cannot be seen from here
    assert not process_gone(None)
