"""Health checks: is a service not only running but answering?"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Callable

from pulpo.services.processes import tcp_open

# Each check waits ``timeout`` seconds for an answer. Starting a service asks every
# 0.25 s until its own deadline, so each check can be short. A one-off verdict such as
# `pulpo status` waits longer: a busy machine can keep a healthy local server from
# answering within two seconds, and status then called it unhealthy (seen in CI).
QUICK_SECONDS = 2.0
VERDICT_SECONDS = 5.0


def http_ok(url: str, timeout: float = QUICK_SECONDS) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(200 <= response.status < 300)
    except OSError:
        return False


def mongo_ping(url: str, timeout: float = 1.5) -> bool:
    """A MongoDB ``ping`` (TCP first: pymongo's own retries are slow to give up)."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError
    from pymongo.uri_parser import parse_uri

    try:
        host, port = parse_uri(url)["nodelist"][0]
    except Exception:
        return False
    if not tcp_open(host, port):
        return False
    client: MongoClient = MongoClient(url, serverSelectionTimeoutMS=int(timeout * 1000))
    try:
        return bool(client.admin.command("ping").get("ok"))
    except PyMongoError:
        return False
    finally:
        client.close()


def worker_online(
    api_url: str,
    pool: str,
    auth_string: Callable[[], str] | None = None,
    name: str | None = None,
    timeout: float = QUICK_SECONDS,
) -> bool:
    """True when the Prefect server lists an online worker in ``pool`` (the worker
    called ``name``, when given).

    ``auth_string``: Prefect's ``user:password`` when its server requires one.
    """
    headers = {"Content-Type": "application/json"}
    if auth_string is not None:
        token = base64.b64encode(auth_string().encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(
        f"{api_url}/work_pools/{pool}/workers/filter",
        data=b"{}",
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            workers = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return any(
        worker.get("status") == "ONLINE" and name in (None, worker.get("name"))
        for worker in workers
    )
