"""The UI in a real headless Chromium against the real stack from `pulpo up`.

Screenshots of each page go to ``$PULPO_UI_SCREENSHOTS`` (``make ui-screenshots``
writes them to docs/ui/), else to a temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


class Ui:
    def __init__(self, stack: Stack, key: str, shots: Path) -> None:
        self.stack = stack
        self.url = f"http://127.0.0.1:{stack.ui_port}"
        self.api = httpx.Client(
            base_url=f"http://127.0.0.1:{stack.api_port}",
            headers={"X-API-Key": key},
            timeout=30,
        )
        self.shots = shots

    def graph(self) -> dict[str, Any]:
        return dict(
            json.loads(
                (
                    self.stack.root / "run_cache" / "orchestration" / "graph.json"
                ).read_text()
            )
        )


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    """The example plus tests/fixtures/chores.py, brought up with `pulpo up`."""
    root = tmp_path_factory.mktemp("ui") / "jobhunter"
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
    )
    shots = Path(
        os.environ.get("PULPO_UI_SCREENSHOTS") or tmp_path_factory.mktemp("shots")
    )
    shots.mkdir(parents=True, exist_ok=True)
    stack = Stack(root)
    up = stack.pulpo("up")
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        key = stack.pulpo("api", "key").stdout.strip()
        ui = Ui(stack, key, shots)
        with ui.api:
            yield ui
    finally:
        stack.pulpo("down")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(
            "no /usr/bin/chromium: run `make browser` (apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, ui: Ui) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.set_default_timeout(15_000)
    yield tab
    context.close()
    assert not errors, errors


def open_page(page: Any, ui: Ui, route: str) -> None:
    page.goto(f"{ui.url}/#/{route}")


def test_up_starts_the_ui_on_loopback_with_the_key_kept_server_side(ui: Ui) -> None:
    rows = ui.stack.status()
    assert list(rows)[-1] == "ui"
    assert (rows["ui"]["state"], rows["ui"]["healthy"]) == ("running", True)
    assert rows["ui"]["address"] == ui.url
    opened = ui.stack.pulpo("ui", "open")
    assert (opened.returncode, opened.stdout.strip()) == (0, ui.url)
    index = httpx.get(ui.url)
    assert (
        index.status_code == 200
        and "default-src 'self'" in index.headers["content-security-policy"]
    )
    assert not re.search(r"(src|href)=\"(https?:)?//", index.text)  # nothing from a CDN
    # Through the UI, with its header: the API answers without the browser sending a key.
    graph = httpx.get(f"{ui.url}/api/v1/graph", headers={"X-Pulpo-UI": "1"})
    assert graph.status_code == 200 and graph.json()["operations"]
    # Another site's page cannot send that header without a preflight: refused.
    assert httpx.get(f"{ui.url}/api/v1/graph").status_code == 403
    # A rebinding attack arrives with its own host name: refused.
    rebound = httpx.get(
        f"{ui.url}/api/v1/graph", headers={"X-Pulpo-UI": "1", "Host": "evil.example"}
    )
    assert rebound.status_code == 400
    assert "GET /api/v1/graph" in ui.stack.pulpo("logs", "ui", "-n", "50").stdout


def test_the_graph_shows_every_operation_and_its_details(page: Any, ui: Ui) -> None:
    open_page(page, ui, "graph")
    operations = [op["name"] for op in ui.graph()["operations"]]
    for name in operations:
        page.locator(f'g.node.op[data-name="{name}"]').wait_for()
    assert page.locator("g.node.op").count() == len(operations)
    page.locator('g.node.op[data-name="scraping.stepstone.fetch"]').click()
    side = page.locator("aside.graph-side")
    assert "Fetch postings from StepStone" in side.inner_text()
    assert "retries" in side.inner_text() and "2" in side.inner_text()
    page.select_option("#graph-flow", "storage_flow")
    # storage_flow runs storage.save and, upstream, the scraping operations it needs.
    lit = page.locator("g.node.op:not(.dim)")
    assert sorted(lit.evaluate_all("els => els.map(e => e.dataset.name)")) == [
        "scraping.linkedin.fetch",
        "scraping.merge",
        "scraping.stepstone.fetch",
        "storage.save",
    ]
    page.select_option("#graph-flow", "")
    page.locator('g.node.op[data-name="scraping.merge"]').click()
    page.screenshot(path=ui.shots / "graph.png")


def test_a_run_submitted_from_the_form_completes_without_a_reload(
    page: Any, ui: Ui
) -> None:
    open_page(page, ui, "flows/storage_flow")
    page.fill("#param-keywords", "uitest")
    page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name="Run storage_flow").click()
    page.wait_for_url(re.compile(r"#/runs/[0-9a-f-]{36}$"))
    run_id = page.url.rsplit("/", 1)[1]
    page.locator("h1 + .badge.s-completed").wait_for(timeout=90_000)
    timeline = page.locator("#timeline")
    timeline.get_by_text("storage.save").wait_for()
    for name in (
        "scraping.stepstone.fetch",
        "scraping.linkedin.fetch",
        "scraping.merge",
    ):
        assert name in timeline.inner_text()
    # A task run's final state can reach Prefect's database just after the flow
    # run's: the page, still polling, shows it at its next refresh.
    timeline.locator(".bar.completed").nth(3).wait_for()
    assert timeline.locator(".bar.completed").count() == 4
    assert page.evaluate("window.notReloaded") is True
    assert '"saved": 6' in page.locator("details").inner_text()  # the result JSON
    page.screenshot(path=ui.shots / "run.png", full_page=True)

    open_page(page, ui, "runs")
    row = page.locator(f'tr[data-run="{run_id}"]')
    row.wait_for()
    assert row.get_attribute("data-status") == "completed"
    page.screenshot(path=ui.shots / "runs.png")


def test_bad_form_input_shows_the_api_422_at_the_field(page: Any, ui: Ui) -> None:
    open_page(page, ui, "flows/storage_flow")
    page.fill("#param-limit", "many")
    page.get_by_role("button", name="Run storage_flow").click()
    error = page.locator("#param-limit-error")
    error.wait_for()
    assert "must be an integer" in error.inner_text()
    assert page.locator("#param-limit").get_attribute("aria-invalid") == "true"
    assert "#/flows/storage_flow" in page.url  # nothing was submitted
    page.screenshot(path=ui.shots / "flow.png")


def test_a_failed_run_shows_its_error_and_retry_starts_a_new_run(
    page: Any, ui: Ui
) -> None:
    open_page(page, ui, "flows/explode_flow")
    page.get_by_role("button", name="Run explode_flow").click()
    page.wait_for_url(re.compile(r"#/runs/[0-9a-f-]{36}$"))
    failed_id = page.url.rsplit("/", 1)[1]
    page.locator("#run-error").wait_for(timeout=90_000)
    assert "asked to fail" in page.locator("#run-error").inner_text()
    # Prefect records task states from events, a moment after the run's own state;
    # the page keeps polling until they arrive.
    page.locator("#timeline .bar.failed").wait_for(timeout=30_000)
    assert page.locator("#timeline .bar.failed").count() == 1
    page.screenshot(path=ui.shots / "run-failed.png", full_page=True)
    page.get_by_role("button", name=re.compile("Retry run")).click()
    page.wait_for_url(
        lambda url: re.search(r"#/runs/[0-9a-f-]{36}$", url) and failed_id not in url
    )
    retry_id = page.url.rsplit("/", 1)[1]
    page.get_by_role("link", name=failed_id).wait_for()  # "retry of"
    assert ui.api.get(f"/api/v1/runs/{retry_id}").json()["retry_of"] == failed_id


def test_the_data_page_lists_what_the_run_wrote_and_edits_with_field_errors(
    page: Any, ui: Ui
) -> None:
    stored = ui.api.get("/api/v1/job-records", params={"keywords": "uitest"}).json()
    assert stored["total"] > 0  # written by the run of the test above
    open_page(page, ui, "data/job-records?keywords=uitest")
    table = page.locator("#data-table tbody tr")
    table.first.wait_for()
    assert table.count() == stored["total"]
    urls = {item["url"] for item in stored["items"]}
    assert urls <= set(page.locator("#data-table tbody").inner_text().split())
    page.screenshot(path=ui.shots / "data.png")

    open_page(page, ui, "data/notes")
    page.get_by_role("button", name="+ New").click()
    page.fill("#doc-slug", "from-the-ui")
    page.fill("#doc-title", "Written in the browser")
    page.fill("#doc-stars", "9")
    page.get_by_role("button", name="Create").click()
    page.locator("#doc-stars-error").get_by_text("less than or equal to 5").wait_for()
    page.screenshot(path=ui.shots / "data-edit.png")
    page.fill("#doc-stars", "4")
    page.get_by_role("button", name="Create").click()
    page.locator("#data-table").get_by_text("from-the-ui").wait_for()
    notes = ui.api.get("/api/v1/notes", params={"slug": "from-the-ui"}).json()
    assert [(n["title"], n["stars"]) for n in notes["items"]] == [
        ("Written in the browser", 4)
    ]


def test_the_health_page_shows_each_service(page: Any, ui: Ui) -> None:
    open_page(page, ui, "health")
    for service in ("api", "db", "prefect", "worker"):
        card = page.locator(f'[data-service="{service}"]')
        card.locator(".badge.s-completed").wait_for()
    page.screenshot(path=ui.shots / "health.png")


def test_a_stopped_api_shows_api_is_down_and_the_page_comes_back(
    page: Any, ui: Ui
) -> None:
    open_page(page, ui, "runs")
    loaded = "#runs-table table, #runs-table .state:not([aria-busy])"  # or no runs
    page.locator(loaded).first.wait_for()
    stopped = ui.stack.pulpo("api", "stop")
    assert stopped.returncode == 0, stopped.stderr
    try:
        page.get_by_role("heading", name="The api is down").wait_for()
        assert (
            "api is down: run pulpo api start"
            in page.locator(".state.down").inner_text()
        )
        # The status bar asks on its own every 2 s: it may learn a moment later.
        page.locator("#statusbar.down").wait_for()
        assert "pulpo api start" in page.locator("#statusbar").inner_text()
        page.screenshot(path=ui.shots / "api-down.png")
    finally:
        started = ui.stack.pulpo("api", "start")
    assert started.returncode == 0, started.stderr
    page.locator(loaded).first.wait_for(timeout=30_000)
