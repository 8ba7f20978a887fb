"""The generated API against the real stack: uvicorn, nx-27017, Prefect server, worker."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PULPO, REPO, run_pulpo
from tests.e2e.conftest import Stack, free_port, project_processes

pytestmark = pytest.mark.e2e


@dataclass
class Api:
    stack: Stack
    key: str
    client: httpx.Client

    def run_until_final(self, run_id: str, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.client.get(f"/api/v1/runs/{run_id}").json()
            if run["status"] in ("completed", "failed", "cancelled"):
                return dict(run)
            time.sleep(0.5)
        raise AssertionError(f"run {run_id} did not finish: {run}")

    def operations_once_recorded(
        self, run_id: str, count: int, timeout: float = 20
    ) -> list[dict[str, Any]]:
        """The run's operation rows once ``count`` of them are final (Prefect
        records task runs from events, so an ended run's last ones can lag)."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.client.get(f"/api/v1/runs/{run_id}/operations")
            assert answer.status_code == 200, answer.text
            rows: list[dict[str, Any]] = answer.json()["operations"]
            final = [r for r in rows if r["status"] in ("completed", "failed")]
            if len(final) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.5)

    def submit(self, flow: str, **parameters: Any) -> str:
        response = self.client.post(
            f"/api/v1/flows/{flow}/runs", json={"parameters": parameters}
        )
        assert response.status_code == 202, response.text
        return str(response.json()["run_id"])


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The example plus tests/fixtures/chores.py (a Note document, failing and slow
    operations), brought up with `pulpo up`."""
    root = tmp_path_factory.mktemp("api") / "jobhunter"
    shutil.copytree(
        REPO / "examples" / "jobhunter",
        root,
        ignore=shutil.ignore_patterns("run_cache", ".pulpo", "__pycache__"),
    )
    shutil.copy(REPO / "tests" / "fixtures" / "chores.py", root / "jobhunter")
    config = root / "pyproject.toml"
    config.write_text(
        config.read_text().replace(
            'modules = ["jobhunter.operations"]',
            'modules = ["jobhunter.operations", "jobhunter.chores"]',
        )
        + '\n[tool.pulpo.resources.greeter]\nsalutation = "ahoy"\n'
        + "\n[tool.pulpo.flows.doze_flow]\ntimeout = 2\n"
    )
    stack = Stack(root)
    up = stack.pulpo("up")
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        key = stack.pulpo("api", "key").stdout.strip()
        with httpx.Client(
            base_url=f"http://127.0.0.1:{stack.api_port}",
            headers={"X-API-Key": key},
            timeout=30,
        ) as client:
            yield Api(stack, key, client)
    finally:
        stack.pulpo("down")


def test_up_serves_the_api_with_a_private_key(api: Api) -> None:
    rows = api.stack.status()
    assert (rows["api"]["state"], rows["api"]["healthy"]) == ("running", True)
    key_file = api.stack.root / ".pulpo" / "secrets" / "api_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == api.key and len(api.key) >= 40
    for private in (api.stack.root / ".pulpo", api.stack.root / "run_cache" / "logs"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o700, private
    generated = api.stack.root / "run_cache" / "api"
    assert (generated / "documents" / "notes.py").is_file()
    assert (generated / "documents" / "job_records.py").is_file()
    docs = api.client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text  # works offline
    script = re.search(r'src="([^"]+swagger-ui-bundle\.js)"', docs.text)
    assert script and api.client.get(script.group(1)).status_code == 200
    logs = api.stack.pulpo("api", "logs", "-n", "200").stdout
    assert '"GET /docs HTTP/1.1" 200' in logs


def test_health_is_open_and_reports_each_service(api: Api) -> None:
    response = httpx.get(f"http://127.0.0.1:{api.stack.api_port}/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "db": True,
        "prefect": True,
        "worker": True,
    }


def test_api_routes_need_the_key(api: Api) -> None:
    url = f"http://127.0.0.1:{api.stack.api_port}/api/v1/job-records"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert "X-API-Key" in missing.json()["error"]
    assert httpx.get(url, headers={"X-API-Key": "nope"}).status_code == 403
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 403
    bearer = httpx.get(url, headers={"Authorization": f"Bearer {api.key}"})
    assert bearer.status_code == 200
    for path in ("/api/v1/runs", "/api/v1/graph", "/api/v1/processing-status"):
        assert (
            httpx.get(f"http://127.0.0.1:{api.stack.api_port}{path}").status_code == 401
        )
    # As after "Bearer ": a key pasted with a trailing space (httpx refuses to send it).
    with socket.create_connection(("127.0.0.1", api.stack.api_port), timeout=30) as raw:
        raw.sendall(
            f"GET /api/v1/graph HTTP/1.1\r\nHost: x\r\nX-API-Key: {api.key} \r\n"
            f"Connection: close\r\n\r\n".encode()
        )
        assert raw.recv(64).startswith(b"HTTP/1.1 200")


def test_a_new_key_in_the_key_file_works_without_a_restart(api: Api) -> None:
    """What `pulpo api key` prints is what the running API accepts."""
    url = f"http://127.0.0.1:{api.stack.api_port}/api/v1/graph"
    key_file = api.stack.root / ".pulpo" / "secrets" / "api_key"
    replacement = "k" * 43
    key_file.write_text(replacement + "\n")
    try:
        printed = api.stack.pulpo("api", "key").stdout.strip()
        assert printed == replacement
        assert httpx.get(url, headers={"X-API-Key": printed}).status_code == 200
        assert httpx.get(url, headers={"X-API-Key": api.key}).status_code == 403
    finally:
        key_file.write_text(api.key + "\n")
    assert httpx.get(url, headers={"X-API-Key": api.key}).status_code == 200


def test_document_crud_round_trip(api: Api) -> None:
    notes = "/api/v1/notes"
    created = api.client.post(notes, json={"slug": "first", "title": "Hello"})
    assert created.status_code == 201, created.text
    note = created.json()
    assert created.headers["Location"] == f"{notes}/{note['id']}"
    assert note == {
        "id": note["id"],
        "slug": "first",
        "title": "Hello",
        "stars": 0,
        "kind": None,
        "tags": [],
    }
    for slug, stars in (("second", 5), ("third", 3)):
        assert (
            api.client.post(
                notes,
                json={"slug": slug, "title": slug, "stars": stars, "kind": "todo"},
            ).status_code
            == 201
        )
    assert api.client.get(f"{notes}/{note['id']}").json() == note

    page = api.client.get(notes, params={"kind": "todo", "sort": "-stars"}).json()
    assert [n["slug"] for n in page["items"]] == ["second", "third"]
    assert page["total"] == 2
    paged = api.client.get(notes, params={"sort": "slug", "skip": 1, "limit": 1}).json()
    assert ([n["slug"] for n in paged["items"]], paged["total"]) == (["second"], 3)

    patched = api.client.patch(f"{notes}/{note['id']}", json={"stars": 4})
    assert patched.status_code == 200
    assert patched.json() == {**note, "stars": 4}

    duplicate = api.client.post(notes, json={"slug": "second", "title": "again"})
    assert duplicate.status_code == 409
    assert duplicate.json()["details"] == {"fields": ["slug"]}
    clash = api.client.patch(f"{notes}/{note['id']}", json={"slug": "third"})
    assert clash.status_code == 409

    assert api.client.delete(f"{notes}/{note['id']}").status_code == 204
    gone = api.client.get(f"{notes}/{note['id']}")
    assert gone.status_code == 404 and note["id"] in gone.json()["error"]
    assert api.client.delete(f"{notes}/{note['id']}").status_code == 404


def test_a_stored_document_that_no_longer_fits_its_model_is_named(api: Api) -> None:
    """Data written by older code or by hand: the error is about it, not the request."""
    from pymongo import MongoClient

    with MongoClient(f"mongodb://127.0.0.1:{api.stack.db_port}") as client:
        inserted = client[api.stack.env["PULPO_DATABASE"]]["notes"].insert_one(
            {"slug": "drifted", "title": "t", "stars": 99, "tags": []}
        )
    url = f"/api/v1/notes/{inserted.inserted_id}"
    for answer in (api.client.get(url), api.client.patch(url, json={"title": "u"})):
        assert answer.status_code == 409, answer.text
        assert (
            "a stored Note no longer fits its model: field 'stars'"
            in (answer.json()["error"])
        )
    listed = api.client.get("/api/v1/notes", params={"limit": 100})
    assert listed.status_code == 409 and "field 'stars'" in listed.json()["error"]
    assert api.client.delete(url).status_code == 204
    assert api.client.get("/api/v1/notes").status_code == 200


def test_sorting_by_id_orders_the_page(api: Api) -> None:
    ids = [
        api.client.post(
            "/api/v1/notes", json={"slug": f"sorted-{n}", "title": "t"}
        ).json()["id"]
        for n in range(3)
    ]
    try:
        pages = {
            order: [
                item["id"]
                for item in api.client.get(
                    "/api/v1/notes", params={"sort": order, "limit": 100}
                ).json()["items"]
                if item["id"] in ids
            ]
            for order in ("id", "-id")
        }
        assert pages["id"] == sorted(ids)
        assert pages["-id"] == sorted(ids, reverse=True)
    finally:
        for id_ in ids:
            api.client.delete(f"/api/v1/notes/{id_}")


def test_a_list_page_stops_at_about_four_mebibytes(api: Api) -> None:
    """Six documents of 900 kB: a page of up to 200 holds four; the rest follow."""
    ids = []
    for n in range(6):
        created = api.client.post(
            "/api/v1/job-records",
            json={
                "url": f"https://big.example/{n}",
                "title": f"{n}" + "t" * 900_000,
                "company": "Big",
                "source": "big-page",
                "keywords": "size",
            },
        )
        assert created.status_code == 201, created.text[:300]
        ids.append(created.json()["id"])
    try:
        query = {"source": "big-page", "sort": "url", "limit": 200}
        first = api.client.get("/api/v1/job-records", params=query)
        assert first.status_code == 200
        assert len(first.content) < 4.5 * 2**20
        page = first.json()
        assert (len(page["items"]), page["total"]) == (4, 6)
        rest = api.client.get("/api/v1/job-records", params={**query, "skip": 4}).json()
        titles = [item["title"][0] for item in [*page["items"], *rest["items"]]]
        assert titles == list("012345")
    finally:
        for id_ in ids:
            api.client.delete(f"/api/v1/job-records/{id_}")


def test_concurrent_patches_of_different_fields_keep_every_change(api: Api) -> None:
    created = api.client.post(
        "/api/v1/notes", json={"slug": "concurrent", "title": "t0"}
    ).json()
    url = f"/api/v1/notes/{created['id']}"
    changes = [
        {"title": "t1"},
        {"stars": 4},
        {"kind": "todo"},
        {"tags": ["a", "b"]},
    ]
    with ThreadPoolExecutor(len(changes) * 5) as pool:
        for round_ in range(5):
            answers = list(
                pool.map(
                    lambda change: api.client.patch(url, json=change),
                    [{k: v for k, v in c.items()} for c in changes for _ in range(5)],
                )
            )
            assert [a.status_code for a in answers] == [200] * len(answers)
            final = api.client.get(url).json()
            assert (final["title"], final["stars"], final["kind"], final["tags"]) == (
                "t1",
                4,
                "todo",
                ["a", "b"],
            ), f"round {round_}: {final}"
            reset = {"title": "t0", "stars": 0, "kind": None, "tags": []}
            assert api.client.patch(url, json=reset).status_code == 200
    assert api.client.delete(url).status_code == 204


def test_if_match_writes_only_over_the_version_the_client_saw(api: Api) -> None:
    created = api.client.post(
        "/api/v1/notes", json={"slug": "versioned", "title": "v0", "tags": ["x"]}
    ).json()
    url = f"/api/v1/notes/{created['id']}"
    seen = api.client.get(url).headers["ETag"]
    changed = api.client.patch(url, json={"title": "v1"}, headers={"If-Match": seen})
    assert changed.status_code == 200, changed.text
    current = changed.headers["ETag"]
    assert current != seen and api.client.get(url).headers["ETag"] == current
    stale = api.client.patch(url, json={"stars": 5}, headers={"If-Match": seen})
    assert stale.status_code == 412, stale.text
    assert stale.json()["details"] == {"etag": current}
    assert api.client.get(url).json()["stars"] == 0  # the stale write was not made
    assert api.client.delete(url, headers={"If-Match": seen}).status_code == 412
    # Of concurrent writers that saw the same version, exactly one wins.
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda n: api.client.patch(
                    url, json={"title": f"racer {n}"}, headers={"If-Match": current}
                ),
                range(8),
            )
        )
    assert sorted(a.status_code for a in answers) == [200] + [412] * 7
    (winner,) = [a.json()["title"] for a in answers if a.status_code == 200]
    assert api.client.get(url).json()["title"] == winner
    assert api.client.patch(url, json={"stars": 1}).status_code == 200  # optional
    assert api.client.delete(url, headers={"If-Match": "*"}).status_code == 204


def test_a_create_sent_again_with_its_idempotency_key_stores_one_document(
    api: Api,
) -> None:
    body = {"slug": "once", "title": "sent twice"}
    key = {"Idempotency-Key": "create-once-1"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: api.client.post("/api/v1/notes", json=body, headers=key),
                range(8),
            )
        )
    accepted = [a for a in answers if a.status_code == 201]
    # Concurrent duplicates wait for the first answer or are told to send it again.
    assert all(a.status_code in (201, 409) for a in answers), [a.text for a in answers]
    assert {a.json()["id"] for a in accepted} == {accepted[0].json()["id"]}
    again = api.client.post("/api/v1/notes", json=body, headers=key)
    assert again.status_code == 201 and again.json() == accepted[0].json()
    assert again.headers["Idempotent-Replayed"] == "true"
    stored = api.client.get("/api/v1/notes", params={"slug": "once"}).json()
    assert stored["total"] == 1
    other = api.client.post(
        "/api/v1/notes", json={**body, "title": "changed"}, headers=key
    )
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["error"]
    # A create that failed keeps no answer: once the cause is gone, the same request
    # with the same key creates the document.
    retried = {"slug": "once", "title": "t"}
    second_key = {"Idempotency-Key": "create-once-2"}
    taken = api.client.post("/api/v1/notes", json=retried, headers=second_key)
    assert taken.status_code == 409 and "exists" in taken.json()["error"]
    api.client.delete(f"/api/v1/notes/{accepted[0].json()['id']}")
    made = api.client.post("/api/v1/notes", json=retried, headers=second_key)
    assert made.status_code == 201, made.text
    assert "Idempotent-Replayed" not in made.headers
    api.client.delete(f"/api/v1/notes/{made.json()['id']}")


def test_run_submissions_with_idempotency_keys_create_one_run_per_key(
    api: Api,
) -> None:
    """16 clients, each sending its submission twice at once: 16 runs, not 32.

    The clients do what the API asks of them: a 503 (Prefect's SQLite server stays
    locked longer than the API waits when the machine is loaded, as in CI) is sent
    again with the same key after its ``Retry-After``, and must not add a run either.
    """

    def submit(n: int) -> httpx.Response:
        for _ in range(6):
            answer = api.client.post(
                "/api/v1/flows/nap_flow/runs",
                json={"parameters": {"seconds": (n // 2) / 1000}},
                headers={"Idempotency-Key": f"nap-{n // 2}"},
            )
            if answer.status_code != 503:
                break
            time.sleep(float(answer.headers["Retry-After"]))
        return answer

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(submit, range(32)))
    refused = [(n, a.status_code, a.text) for n, a in enumerate(answers)]
    assert all(a.status_code == 202 for a in answers), [
        r for r in refused if r[1] != 202
    ]
    run_ids = [a.json()["run_id"] for a in answers]
    assert run_ids[0::2] == run_ids[1::2]  # both sends of a key: the same run
    assert len(set(run_ids)) == 16
    different = api.client.post(
        "/api/v1/flows/nap_flow/runs",
        json={"parameters": {"seconds": 9.0}},
        headers={"Idempotency-Key": "nap-0"},
    )
    assert different.status_code == 422, different.text
    first = api.client.get(f"/api/v1/runs/{run_ids[0]}").json()
    assert first["parameters"] == {"seconds": 0.0}
    # Sixteen flow processes at once would load the stack the next tests share.
    for run_id in set(run_ids):
        assert api.client.post(f"/api/v1/runs/{run_id}/cancel").status_code in (
            202,
            409,  # already ended
        )


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/api/v1/notes", {"slug": "x", "title": "y" * 81}, "body.title"),
        (
            "post",
            "/api/v1/notes",
            {"slug": "x", "title": "t", "stars": 9},
            "body.stars",
        ),
        (
            "post",
            "/api/v1/notes",
            {"slug": "x", "title": "t", "kind": "?"},
            "body.kind",
        ),
        (
            "post",
            "/api/v1/notes",
            {"slug": "x", "title": "t", "extra": 1},
            "body.extra",
        ),
        ("post", "/api/v1/notes", {"title": "t"}, "body.slug"),
        ("post", "/api/v1/notes", ["not", "an", "object"], "body"),
        ("get", "/api/v1/notes?limit=1000", None, "query.limit"),
        ("get", "/api/v1/notes?sort=secret", None, "query.sort"),
        ("get", "/api/v1/notes?color=red", None, "query.color"),
        ("get", f"/api/v1/notes?stars={2**70}", None, "query.stars"),  # not int64
        (
            "patch",
            "/api/v1/notes/6b0443622bf4a7def1cd2817",
            {"title": None},
            "body.title",
        ),
        ("get", "/api/v1/notes/not-an-id", None, "path.id"),
        ("get", "/api/v1/runs/42", None, "path.run_id"),
        (
            "post",
            "/api/v1/flows/scraping_flow/runs",
            {"parameters": {"limit": "x"}},
            "body.parameters.limit",
        ),
        (
            "post",
            "/api/v1/flows/scraping_flow/runs",
            {"parameters": {"limt": 1}},
            "body.parameters.limt",
        ),
        # Values Prefect or the database cannot store, or that are not what they say.
        (
            "post",
            "/api/v1/flows/storage_flow/runs",
            {"parameters": {"limit": 2**64}},
            "body.parameters.limit",
        ),
        (
            "post",
            "/api/v1/flows/storage_flow/runs",
            {"parameters": {"limit": True}},
            "body.parameters.limit",
        ),
        (
            "post",
            "/api/v1/flows/storage_flow/runs",
            {"parameters": {"keywords": "\ud800"}},
            "body.parameters.keywords",
        ),
        ("post", "/api/v1/notes", {"slug": "s", "title": "\ud800"}, "body.title"),
        (
            "post",
            "/api/v1/notes",
            {"slug": "s", "title": "t", "tags": ["ok", "\udfff"]},
            "body.tags.1",
        ),
        (
            "patch",
            "/api/v1/notes/6b0443622bf4a7def1cd2817",
            {"stars": True},
            "body.stars",
        ),
    ],
)
def test_bad_requests_are_422_naming_the_field(
    api: Api, method: str, path: str, body: Any, field: str
) -> None:
    # json.dumps escapes lone surrogates as \ud800, as a JSON client sends them.
    content = None if body is None else json.dumps(body)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    response = api.client.request(method, path, content=content, headers=headers)
    assert response.status_code == 422, response.text
    error = response.json()
    assert field in error["error"]
    assert field in [d["field"] for d in error["details"]]


def test_malformed_and_oversized_bodies_are_refused(api: Api) -> None:
    broken = api.client.post(
        "/api/v1/notes", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422 and "JSON" in broken.json()["error"]
    huge = api.client.post(
        "/api/v1/notes", json={"slug": "big", "title": "x" * (2 * 1024 * 1024)}
    )
    assert huge.status_code == 413 and "larger than" in huge.json()["error"]
    put = api.client.put("/api/v1/notes/6b0443622bf4a7def1cd2817", json={})
    assert put.status_code == 405
    assert put.headers["allow"] == "DELETE, GET, PATCH"
    unknown = api.client.post("/api/v1/flows/scrapng_flow/runs", json={})
    assert unknown.status_code == 404
    assert "did you mean 'scraping_flow'" in unknown.json()["error"]


def test_openapi_schemas_are_the_models_own(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    create = components["NoteCreate"]
    assert create["required"] == ["slug", "title"]
    assert create["properties"]["title"]["maxLength"] == 80
    assert create["properties"]["stars"]["maximum"] == 5
    assert components["Note"]["properties"]["id"]["type"] == "string"
    assert components["JobRecordCreate"]["properties"]["url"]["type"] == "string"
    run_body = components["ScrapingFlowRun"]["properties"]["parameters"]
    parameters = components[run_body["$ref"].rsplit("/", 1)[-1]]["properties"]
    assert parameters["limit"] == {"default": 4, "title": "Limit", "type": "integer"}
    listing = schema["paths"]["/api/v1/notes"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "skip",
        "limit",
        "sort",
        "kind",
    }
    assert {"APIKeyHeader", "HTTPBearer"} <= set(
        schema["components"]["securitySchemes"]
    )


def test_example_flow_runs_to_completed_with_its_result(api: Api) -> None:
    run_id = api.submit("storage_flow", keywords="rust", limit=2)
    run = api.run_until_final(run_id)
    assert run["status"] == "completed", run
    assert run["flow"] == "storage_flow"
    assert run["parameters"] == {"keywords": "rust", "limit": 2}
    assert run["result"]["storage.save"]["saved"] == 3
    assert run["error"] is None and run["created_at"] <= run["updated_at"]
    stored = api.client.get("/api/v1/job-records", params={"keywords": "rust"}).json()
    assert stored["total"] == 3
    listed = api.client.get("/api/v1/runs", params={"flow": "storage_flow"}).json()
    assert run_id in [r["run_id"] for r in listed["items"]]


def test_a_runs_operations_list_each_one_with_its_state_and_timing(api: Api) -> None:
    run_id = api.submit("parsing_flow", keywords="go", limit=3)
    run = api.run_until_final(run_id)
    assert run["status"] == "completed", run
    rows = api.operations_once_recorded(run_id, count=5)
    by_name = {row["operation"]: row for row in rows}
    # The upstream scraping operations run inline in the same flow run.
    assert set(by_name) == {
        "scraping.stepstone.fetch",
        "scraping.linkedin.fetch",
        "scraping.merge",
        "parsing.skills.extract",
        "parsing.summarize",
    }
    assert {row["status"] for row in rows} == {"completed"}
    assert [row["started_at"] for row in rows] == sorted(r["started_at"] for r in rows)
    mapped = by_name["parsing.skills.extract"]
    assert mapped["task_runs"] == len(run["result"]["parsing.skills.extract"]) > 1
    assert by_name["scraping.merge"]["task_runs"] == 1
    fetch = by_name["scraping.stepstone.fetch"]
    assert fetch["seconds"] >= 0.5  # the example's simulated latency
    assert by_name["scraping.merge"]["started_at"] >= fetch["ended_at"]

    failing = api.submit("explode_flow")
    assert api.run_until_final(failing)["status"] == "failed"
    [exploded] = api.operations_once_recorded(failing, count=1)
    assert (exploded["operation"], exploded["status"]) == ("explode", "failed")
    assert exploded["failed"] == 1 and "asked to fail" in exploded["error"]
    unknown = api.client.get(f"/api/v1/runs/{uuid.uuid4()}/operations")
    assert unknown.status_code == 404


def prefect_credentials(api: Api) -> tuple[str, str]:
    secret = api.stack.root / ".pulpo" / "secrets" / "prefect_auth"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    user, _, password = f"pulpo:{secret.read_text().strip()}".partition(":")
    return user, password


def test_a_flow_with_a_resource_runs_in_the_worker_with_its_settings(
    api: Api,
) -> None:
    components = api.client.get("/openapi.json").json()["components"]["schemas"]
    run_body = components["GreetFlowRun"]["properties"]["parameters"]
    parameters = components[run_body["$ref"].rsplit("/", 1)[-1]]["properties"]
    assert set(parameters) == {"name"}  # the resource is no parameter
    run = api.run_until_final(api.submit("greet_flow", name="ada"))
    assert run["status"] == "completed", run
    assert run["result"] == {"greet": {"message": "ahoy ada"}}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_requests_and_runs_behind_the_key(api: Api) -> None:
    url = f"http://127.0.0.1:{api.stack.api_port}/metrics"
    assert httpx.get(url).status_code == 401
    before = api.client.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    assert re.fullmatch(r"[0-9a-f]{32}", before.headers["x-request-id"])
    submitted = ("pulpo_runs_submitted_total", (("flow", "healthcheck_flow"),))
    count = samples(before.text).get(submitted, 0)

    run = api.run_until_final(api.submit("healthcheck_flow"))
    assert run["status"] == "completed", run
    after = api.client.get("/metrics", headers={"X-Request-ID": "trace-me-1"})
    assert after.headers["x-request-id"] == "trace-me-1"
    found = samples(after.text)
    assert found[submitted] == count + 1
    route = (("method", "GET"), ("route", "/api/v1/runs/{run_id}"), ("status", "200"))
    assert found[("pulpo_http_requests_total", route)] >= 1  # by template, not by id
    assert not any(run["run_id"] in str(labels) for _, labels in found)
    assert found[("pulpo_runs", (("status", "completed"),))] >= 1
    assert ("pulpo_runs_pending", ()) in found


def test_prefect_refuses_clients_without_the_projects_credentials(api: Api) -> None:
    """Prefect runs code on the worker; without its auth string nobody reaches it."""
    prefect = f"http://127.0.0.1:{api.stack.prefect_port}/api"
    anonymous = httpx.post(f"{prefect}/deployments/filter", json={}, timeout=30)
    assert anonymous.status_code == 401, anonymous.text
    wrong = httpx.post(
        f"{prefect}/deployments/filter", json={}, auth=("pulpo", "guess"), timeout=30
    )
    assert wrong.status_code == 401
    allowed = httpx.post(
        f"{prefect}/deployments/filter",
        json={},
        auth=prefect_credentials(api),
        timeout=30,
    )
    assert allowed.status_code == 200
    assert httpx.get(f"{prefect}/health", timeout=30).status_code == 200


def serve_generated_app(
    api: Api, env: dict[str, str]
) -> tuple[subprocess.Popen[str], str]:
    """`uvicorn run_cache.api.app:app`, as a user deploys the generated app elsewhere."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "run_cache.api.app:app", "--port", str(port)],
        cwd=api.stack.root,
        env={
            **os.environ,
            **api.stack.env,
            "MONGODB_URL": f"mongodb://127.0.0.1:{api.stack.db_port}",
            "PREFECT_API_URL": f"http://127.0.0.1:{api.stack.prefect_port}/api",
            "PREFECT_API_AUTH_STRING": ":".join(prefect_credentials(api)),
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health/live", timeout=2).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError(server.communicate()[0][-3000:])
        time.sleep(0.5)


def stop(server: subprocess.Popen[str]) -> str:
    server.terminate()
    return server.communicate(timeout=30)[0]


def test_parameters_prefect_refuses_are_a_client_error_logged_briefly(
    api: Api,
) -> None:
    log = api.stack.root / "run_cache" / "logs" / "api.log"
    before = log.stat().st_size
    response = api.client.post(
        "/api/v1/flows/storage_flow/runs",
        json={"parameters": {"keywords": "x" * 700_000}},
    )
    assert response.status_code == 422, response.text
    assert "Retry-After" not in response.headers
    time.sleep(1)  # the supervisor copies the API's output into the log
    assert log.stat().st_size - before < 20_000


class RetryBusyPrefect(httpx.HTTPTransport):
    """Retries the 503 a busy SQLite-backed Prefect server answers (its database was
    locked and nothing was written), as Prefect's own client does."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(20):
            response = super().handle_request(request)
            if response.status_code != 503:
                return response
            response.close()
            time.sleep(0.5)
        return response


def prefect_http(api: Api) -> httpx.Client:
    """A client of the stack's Prefect server with the project's credentials."""
    return httpx.Client(
        base_url=f"http://127.0.0.1:{api.stack.prefect_port}/api",
        auth=prefect_credentials(api),
        timeout=30,
        transport=RetryBusyPrefect(),
    )


def test_the_work_pool_runs_a_bounded_number_of_flows_at_once(api: Api) -> None:
    prefect = prefect_http(api)
    pool = prefect.get(f"/work_pools/pool-{api.stack.prefect_port}")
    assert pool.status_code == 200, pool.text
    assert pool.json()["concurrency_limit"] == 4  # run_concurrency's default


def test_a_huge_request_header_is_refused_without_reading_it_all(api: Api) -> None:
    with socket.create_connection(("127.0.0.1", api.stack.api_port), timeout=30) as raw:
        raw.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Junk: ")
        try:
            for _ in range(64):  # up to 4 MiB, while the server keeps reading
                raw.sendall(b"j" * 65536)
        except OSError:  # the server closed the connection: refused early
            pass
        reply = raw.recv(64)
    assert not reply.startswith(b"HTTP/1.1 200"), reply
    live = httpx.get(f"http://127.0.0.1:{api.stack.api_port}/health/live", timeout=30)
    assert live.status_code == 200


def closed_by_server(connection: socket.socket) -> bool:
    try:
        return connection.recv(64) == b""
    except ConnectionResetError:
        return True


def test_a_request_sent_too_slowly_is_cut_off(api: Api) -> None:
    """Connections that send nothing, or a header a little at a time, are closed
    (uvicorn alone keeps them open for ever, and 256 of them lock everyone out)."""
    address = ("127.0.0.1", api.stack.api_port)
    with (
        socket.create_connection(address, timeout=30) as silent,
        socket.create_connection(address, timeout=30) as trickling,
        socket.create_connection(address, timeout=30) as slow_body,
    ):
        trickling.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        slow_body.sendall(
            f"POST /api/v1/notes HTTP/1.1\r\nHost: x\r\nX-API-Key: {api.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode()
        )
        for _ in range(5):
            time.sleep(1)
            trickling.sendall(b"X-Slow: y\r\n")
            slow_body.sendall(b" ")
        # The 30 s socket timeout fails a connection the server keeps open.
        assert closed_by_server(silent)
        assert closed_by_server(trickling)
        assert closed_by_server(slow_body)
    live = httpx.get(f"http://127.0.0.1:{api.stack.api_port}/health/live", timeout=30)
    assert live.status_code == 200


def test_the_generated_app_without_a_key_refuses_every_request(
    api: Api, tmp_path: Path
) -> None:
    empty = tmp_path / "empty_key"
    empty.write_text("")
    server, base = serve_generated_app(
        api, {"PULPO_API_KEYS": "", "PULPO_API_KEY_FILE": str(empty)}
    )
    try:
        refused = httpx.get(f"{base}/api/v1/graph", timeout=30)
        guessed = httpx.get(f"{base}/api/v1/graph", headers={"X-API-Key": ""})
    finally:
        output = stop(server)
    assert refused.status_code == 503, refused.text
    assert "pulpo api key" in refused.json()["error"]
    assert guessed.status_code == 503
    assert "no API key configured" in output


def test_auth_none_opens_the_api_on_loopback_and_says_so(api: Api) -> None:
    server, base = serve_generated_app(api, {"PULPO_AUTH": "none"})
    try:
        opened = httpx.get(f"{base}/api/v1/graph", timeout=30)
    finally:
        output = stop(server)
    assert opened.status_code == 200, opened.text
    assert "auth = 'none'" in output


def test_a_flow_whose_deployment_is_gone_is_refused_until_deployed_again(
    api: Api,
) -> None:
    """The API looks deployments up; `pulpo up` and `pulpo prefect deploy` make them."""
    prefect = httpx.Client(
        base_url=f"http://127.0.0.1:{api.stack.prefect_port}/api",
        auth=prefect_credentials(api),
        timeout=30,
    )
    found = prefect.get("/deployments/name/explode_flow/pulpo")
    assert found.status_code == 200, found.text
    deleted = prefect.delete(f"/deployments/{found.json()['id']}")
    assert deleted.status_code == 204, deleted.text
    refused = api.client.post(
        "/api/v1/flows/explode_flow/runs", json={"parameters": {}}
    )
    assert refused.status_code == 409, refused.text
    assert "pulpo prefect deploy explode_flow" in refused.json()["error"]
    deployed = api.stack.pulpo("prefect", "deploy", "explode_flow")
    assert deployed.returncode == 0, deployed.stderr[-2000:]
    assert api.submit("explode_flow")  # found again without restarting the API


def test_a_failing_run_ends_failed_and_can_be_retried(api: Api) -> None:
    run_id = api.submit("explode_flow")
    failed = api.run_until_final(run_id)
    assert failed["status"] == "failed"
    assert "asked to fail" in failed["error"]
    assert failed["error_code"] == "operation_failed"
    retry = api.client.post(f"/api/v1/runs/{run_id}/retry")
    assert retry.status_code == 202
    assert retry.json()["retry_of"] == run_id
    again = api.run_until_final(retry.json()["run_id"])
    assert again["status"] == "failed" and again["retry_of"] == run_id
    assert again["parameters"] == failed["parameters"]
    status = api.client.get("/api/v1/processing-status").json()
    assert status["failed_count"] >= 2
    assert {r["run_id"] for r in status["recent_failures"]} >= {run_id, again["run_id"]}
    failed_only = api.client.get("/api/v1/runs", params={"status": "failed"}).json()
    assert {r["status"] for r in failed_only["items"]} == {"failed"}


def test_a_flow_timeout_fails_the_run_on_the_worker_with_code_timeout(
    api: Api, tmp_path: Path
) -> None:
    """doze_flow has timeout = 2; its operation sleeps in a thread, which the run's
    process abandons when it ends."""
    log = tmp_path / "doze.log"
    run_id = api.submit("doze_flow", log=str(log), seconds=8)
    ended = api.run_until_final(run_id, timeout=90)
    assert (ended["status"], ended["state"], ended["error_code"]) == (
        "failed",
        "TimedOut",
        "timeout",
    )
    assert "exceeded timeout of 2.0 second(s)" in ended["error"]
    waited = api.stack.pulpo(
        "prefect",
        "run",
        "doze_flow",
        "--deployment",
        "-p",
        f"log={log}",
        "-p",
        "seconds=8",
    )
    assert waited.returncode == 1
    last = waited.stderr.strip().splitlines()[-1]
    assert last.startswith("error: flow 'doze_flow' run "), waited.stderr[-2000:]
    assert last.endswith(
        "timed out on the worker: Flow run exceeded timeout of 2.0 second(s) "
        "(code: timeout)"
    )
    starts = [float(line.split()[1]) for line in log.read_text().splitlines()]
    assert len(starts) == 2
    time.sleep(max(0.0, starts[-1] + 9 - time.time()))  # past the sleeps' end
    assert "end" not in log.read_text()  # both cut off with their process


def test_completed_runs_cannot_be_retried_or_cancelled(api: Api) -> None:
    run_id = api.submit("explode_flow", fail=False)
    assert api.run_until_final(run_id)["result"] == {"explode": {"message": "fine"}}
    assert api.client.post(f"/api/v1/runs/{run_id}/retry").status_code == 409
    assert api.client.post(f"/api/v1/runs/{run_id}/cancel").status_code == 409


def test_a_cached_operation_runs_once_until_a_run_asks_to_refresh_it(
    api: Api,
) -> None:
    """Runs by the worker share the cache; `refresh_cache` in the body runs the
    operation again (the run's parameters stay the flow's)."""
    tag = f"tag{time.time_ns()}"
    calls = api.stack.root / "jobhunter" / "tally_calls.txt"

    def count() -> int:
        return calls.read_text().split().count(tag) if calls.exists() else 0

    first = api.run_until_final(api.submit("tally_flow", tag=tag))
    second = api.run_until_final(api.submit("tally_flow", tag=tag))
    assert first["status"] == second["status"] == "completed", (first, second)
    assert count() == 1
    assert second["result"] == first["result"]
    response = api.client.post(
        "/api/v1/flows/tally_flow/runs",
        json={"parameters": {"tag": tag}, "refresh_cache": True},
    )
    assert response.status_code == 202, response.text
    refreshed = api.run_until_final(response.json()["run_id"])
    assert refreshed["status"] == "completed", refreshed
    assert refreshed["parameters"] == {"tag": tag}
    assert count() == 2
    assert refreshed["result"] != first["result"]
    after = api.run_until_final(api.submit("tally_flow", tag=tag))
    assert count() == 2
    assert after["result"] == refreshed["result"]
    logs = api.stack.pulpo("logs", "worker", "-n", "1000").stdout
    assert "operation 'tally': result from the cache" in logs
    by_cli = api.stack.pulpo(
        "prefect",
        "run",
        "tally_flow",
        "--deployment",
        "--refresh-cache",
        "-p",
        f"tag={tag}",
    )
    assert by_cli.returncode == 0, by_cli.stderr[-2000:]
    assert count() == 3


def test_cancel_a_running_run(api: Api) -> None:
    run_id = api.submit("nap_flow", seconds=120)
    deadline = time.monotonic() + 60
    while api.client.get(f"/api/v1/runs/{run_id}").json()["status"] != "processing":
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.3)
    busy = api.client.get("/api/v1/processing-status").json()
    assert busy["is_processing"] and busy["processing_count"] >= 1
    cancel = api.client.post(f"/api/v1/runs/{run_id}/cancel")
    assert cancel.status_code == 202, cancel.text
    cancelled = api.run_until_final(run_id, timeout=60)
    assert (cancelled["status"], cancelled["error_code"]) == ("cancelled", "cancelled")


def test_cancel_a_run_the_worker_just_claimed(api: Api) -> None:
    """Pending: the worker took it and is starting its process (Prefect left such a
    run Cancelling for five minutes)."""
    run_id = api.submit("nap_flow", seconds=120)
    deadline = time.monotonic() + 60
    while (run := api.client.get(f"/api/v1/runs/{run_id}").json())["state"] in (
        "Scheduled",
        "Late",
    ):
        assert time.monotonic() < deadline, "the worker never claimed the run"
        time.sleep(0.05)
    # Claimed, its process not running the flow yet (Prefect: Pending, Submitting).
    assert run["status"] == "pending", run
    first = api.client.post(f"/api/v1/runs/{run_id}/cancel")
    assert first.status_code == 202, first.text
    again = api.client.post(f"/api/v1/runs/{run_id}/cancel")
    assert again.status_code == 202, again.text  # not 409 while it is being cancelled
    if again.json()["state"] == "Cancelling":
        retried = api.client.post(f"/api/v1/runs/{run_id}/retry")
        assert retried.status_code == 409 and "being cancelled" in retried.text
    final = api.run_until_final(run_id, timeout=60)
    assert final["status"] == "cancelled", final
    time.sleep(3)  # it stays cancelled: the flow never runs
    assert api.client.get(f"/api/v1/runs/{run_id}").json()["state"] == "Cancelled"


def test_processing_status_counts_match_the_run_list(api: Api) -> None:
    status = api.client.get("/api/v1/processing-status").json()
    runs = api.client.get("/api/v1/runs", params={"limit": 200}).json()["items"]
    for name in ("pending", "processing", "completed", "failed", "cancelled"):
        assert status[f"{name}_count"] == sum(r["status"] == name for r in runs)
    assert status["total_count"] == len(runs)
    worker = api.client.get("/api/v1/worker-status").json()
    assert worker["online"] and worker["pool"] == f"pool-{api.stack.prefect_port}"


def test_graph_is_what_pulpo_graph_prints(api: Api) -> None:
    printed = api.stack.pulpo("graph", "--format", "json")
    assert api.client.get("/api/v1/graph").json() == json.loads(printed.stdout)


def test_cors_is_closed_until_an_origin_is_configured(api: Api) -> None:
    origin = {"Origin": "http://localhost:5173"}
    assert (
        "access-control-allow-origin"
        not in api.client.get("/api/v1/notes", headers=origin).headers
    )
    env = {**api.stack.env, "PULPO_CORS_ORIGINS": "http://localhost:5173"}
    restarted = run_pulpo("api", "restart", cwd=api.stack.root, env=env)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    allowed = api.client.get("/api/v1/notes", headers=origin)
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"


def test_api_stop_and_start_leave_the_other_services_alone(api: Api) -> None:
    stopped = api.stack.pulpo("api", "stop")
    assert stopped.returncode == 0 and "stopped api" in stopped.stdout
    states = {n: r["state"] for n, r in api.stack.status().items()}
    assert states == {
        "db": "running",
        "prefect": "running",
        "worker": "running",
        "api": "stopped",
        "ui": "running",
    }
    with pytest.raises(httpx.ConnectError):
        api.client.get("/api/v1/notes")
    started = api.stack.pulpo("api", "start")
    assert started.returncode == 0, started.stderr[-2000:]
    assert api.stack.status()["api"]["state"] == "running"
    assert api.stack.pulpo("api", "key").stdout.strip() == api.key  # same key
    assert api.client.get("/api/v1/notes").status_code == 200


def test_up_after_a_code_change_serves_the_new_code(api: Api) -> None:
    chores = api.stack.root / "jobhunter" / "chores.py"
    chores.write_text(
        chores.read_text()
        + '\n\n@operation(name="wave", outputs=Outcome)\n'
        + 'def wave(to: str = "you") -> Outcome:\n'
        + '    return Outcome(message=f"hello {to}")\n'
    )
    pid = api.stack.status()["api"]["pid"]
    up = api.stack.pulpo("up")
    assert up.returncode == 0, up.stderr[-2000:]
    restarted = api.stack.status()["api"]["pid"]
    assert restarted != pid
    run = api.run_until_final(api.submit("wave_flow", to="pulpo"))
    assert run["result"] == {"wave": {"message": "hello pulpo"}}
    assert api.stack.pulpo("up").returncode == 0  # nothing changed: left running
    assert api.stack.status()["api"]["pid"] == restarted


def fuzz(api: Api, folder: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run schemathesis against the live schema, with every check it has (5xx,
    undocumented answers, valid data refused, invalid data accepted, resources gone
    after DELETE or missing after POST, auth ignored…).

    The coverage phase sends the same generated Idempotency-Key ("null") with
    different bodies, which the API rightly refuses (422); tests/e2e/schemathesis_hooks
    gives the other phases a new key per request, as clients do.
    """
    config = folder / "schemathesis.toml"
    config.write_text(
        "[cache]\nenabled = false\n"
        # Valid data may still meet a taken unique field or a changed ETag.
        "[checks.positive_data_acceptance]\n"
        "expected-statuses = [200, 201, 202, 204, 404, 409, 412]\n"
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            f"http://127.0.0.1:{api.stack.api_port}/openapi.json",
            "--checks",
            "all",
            "--seed",
            "20261123",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "-H",
            f"X-API-Key: {api.key}",
            "--no-color",
            *options,
        ],
        cwd=folder,
        env={
            **os.environ,
            "HYPOTHESIS_STORAGE_DIRECTORY": str(folder / "hypothesis"),
            "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks",
            "PYTHONPATH": str(REPO),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )


def generated_cases(output: str) -> int:
    found = re.search(r"(\d+) generated", output)
    assert found, output[-3000:]
    return int(found.group(1))


def test_fuzzing_the_openapi_schema_finds_no_server_error_or_undocumented_answer(
    api: Api, tmp_path: Path
) -> None:
    # Runs the fuzzer submits stay pending: no worker spends minutes executing them.
    assert api.stack.pulpo("worker", "stop").returncode == 0
    deadline = time.monotonic() + 30
    while (
        health := httpx.get(f"http://127.0.0.1:{api.stack.api_port}/health")
    ).status_code == 200:
        assert time.monotonic() < deadline, "health still ok without a worker"
        time.sleep(0.5)
    assert health.status_code == 503
    assert health.json()["status"] == "degraded"
    assert [n for n, c in health.json()["checks"].items() if not c["ok"]] == ["worker"]
    documents_and_runs = fuzz(
        api,
        tmp_path,
        "--max-examples",
        "15",
        "--phases",
        "coverage,fuzzing",
        "--exclude-checks",
        "positive_data_acceptance",
        "--exclude-path-regex",
        "^/api/v1/flows/",
        "--exclude-path",
        "/health",  # 503 by design while the worker is stopped
    )
    assert documents_and_runs.returncode == 0, documents_and_runs.stdout[-6000:]
    assert generated_cases(documents_and_runs.stdout) > 300
    # Every valid submission creates a Prefect run; a few per flow keep SQLite calm.
    submissions = fuzz(
        api,
        tmp_path,
        "--max-examples",
        "4",
        "--phases",
        "fuzzing",
        "--include-path-regex",
        "^/api/v1/flows/",
    )
    assert submissions.returncode == 0, submissions.stdout[-6000:]
    assert generated_cases(submissions.stdout) > 20
    # Sequences over real documents (create, then read, change, delete what was
    # created), with every check schemathesis has.
    sequences = fuzz(
        api,
        tmp_path,
        "--max-examples",
        "30",
        "--phases",
        "stateful",
        "--include-path-regex",
        "^/api/v1/(notes|job-records)",
    )
    assert sequences.returncode == 0, sequences.stdout[-6000:]
    scenarios = re.search(r"Scenarios:\s+(\d+)", sequences.stdout)
    assert scenarios and int(scenarios.group(1)) >= 5, sequences.stdout[-3000:]
    assert api.stack.status()["api"]["state"] == "running"


def test_a_run_prefect_cannot_return_is_left_out_of_listings(api: Api) -> None:
    """A run stored past the API (here with a lone surrogate, which Prefect stores
    and then fails to serialize) must not make every listing fail."""
    prefect = prefect_http(api)
    deployment = prefect.get("/deployments/name/storage_flow/pulpo").json()["id"]
    created = prefect.post(
        f"/deployments/{deployment}/create_flow_run",
        content=b'{"parameters": {"keywords": "\\ud800"}, "state": {"type": '
        b'"SCHEDULED", "state_details": {"scheduled_time": "2099-01-01T00:00:00Z"}}}',
        headers={"Content-Type": "application/json"},
    )
    assert created.status_code == 500  # stored, then not returned
    listed = api.client.get("/api/v1/runs", params={"limit": 200}, timeout=20)
    assert listed.status_code == 200, listed.text
    (unreadable,) = listed.json()["unreadable"]
    try:
        assert listed.json()["items"], "the other runs are still listed"
        pending = api.client.get("/api/v1/runs", params={"status": "pending"})
        assert pending.json()["unreadable"] == [unreadable]
        counts = api.client.get("/api/v1/processing-status", timeout=20)
        assert counts.status_code == 200, counts.text
        alone = api.client.get(f"/api/v1/runs/{unreadable}", timeout=20)
        assert alone.status_code == 502, alone.text  # not 503: retrying cannot help
        assert "Retry-After" not in alone.headers
    finally:
        assert prefect.delete(f"/flow_runs/{unreadable}").status_code == 204
    assert api.client.get("/api/v1/runs").json()["unreadable"] == []


def test_down_while_a_deployment_run_is_awaited_ends_it_with_one_line(
    api: Api,
) -> None:
    """`pulpo prefect run --deployment` waits on the server; `pulpo down` stops it."""
    # The fuzzing test stopped the worker; without one the command fails at once.
    assert api.stack.pulpo("worker", "start").returncode == 0
    before = {run["run_id"] for run in api.client.get("/api/v1/runs").json()["items"]}
    waiting = subprocess.Popen(
        [PULPO, "prefect", "run", "nap_flow", "--deployment", "-p", "seconds=120"],
        cwd=api.stack.root,
        env={**os.environ, "NO_COLOR": "1", **api.stack.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Once its run exists the command waits on the server (the run may still be
        # queued behind the runs earlier tests submitted).
        deadline = time.monotonic() + 120
        while not any(
            run["flow"] == "nap_flow" and run["run_id"] not in before
            for run in api.client.get("/api/v1/runs").json()["items"]
        ):
            assert waiting.poll() is None, waiting.communicate()
            assert time.monotonic() < deadline, "the deployment run was never created"
            time.sleep(0.5)
        time.sleep(2)
        assert api.stack.pulpo("down").returncode == 0
        stopped = time.monotonic()
        stdout, stderr = waiting.communicate(timeout=120)
        # Not after the Prefect client's minute of retries: it checks the server.
        assert time.monotonic() - stopped < 30
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 1, stderr[-2000:]
    assert stdout == ""
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Prefect server" in errors[0], stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert len(stderr.splitlines()) < 20, stderr


def test_down_stops_the_api(api: Api) -> None:
    assert api.stack.pulpo("down").returncode == 0
    assert project_processes(api.stack.markers()) == []
