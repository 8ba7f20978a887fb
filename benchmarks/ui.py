"""UI timings in a real headless Chromium (Playwright, the system's /usr/bin/chromium).

1. The example: a copy of examples/jobhunter brought up with `pulpo up` on free ports;
   the time from navigation to the first page (the graph) being interactive, i.e. every
   operation drawn and clickable, and to the Runs page showing its table or empty
   state. Each repeat uses a fresh browser context (nothing cached).
2. A 1,000-operation synthetic project (benchmarks/compile_scaling.py's generator, built
   with `pulpo build`): its graph.json is served to the same UI page in place of the
   example's graph (Playwright's request routing), and the graph page is timed from
   navigation to drawn, collapsed (namespaces start collapsed above 80 operations), and
   from a click on one namespace to its operations laid out and drawn.

Usage::

    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 python benchmarks/ui.py [--ops 1000]
        [--namespaces 50] [--repeats 3]

A figures script, not a test: it prints the figures and the targets (first page under
1 s, the 1,000-operation graph under 3 s) and always exits 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
PULPO = str(Path(sys.executable).with_name("pulpo"))
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pulpo(root: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [PULPO, *args],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"pulpo {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def synthetic_graph(scratch: Path, ops: int, namespaces: int) -> bytes:
    from compile_scaling import build_graph, write_project

    project = scratch / "synthetic"
    project.mkdir()
    write_project(build_graph(ops, namespaces), project)
    pulpo(project, {}, "build")
    return (project / "run_cache" / "orchestration" / "graph.json").read_bytes()


def timed_page(browser: Any, url: str, ready: str, graph: bytes | None = None) -> float:
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    if graph is not None:
        page.route(
            "**/api/v1/graph",
            lambda route: route.fulfill(
                status=200, body=graph, headers={"content-type": "application/json"}
            ),
        )
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(ready, timeout=60_000)
    elapsed = time.perf_counter() - start
    context.close()
    return elapsed


def open_namespace(browser: Any, url: str, graph: bytes) -> float:
    """From a click on a collapsed namespace to its operations drawn."""
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    page.route(
        "**/api/v1/graph",
        lambda route: route.fulfill(
            status=200, body=graph, headers={"content-type": "application/json"}
        ),
    )
    page.goto(url)
    page.wait_for_selector("g.node.ns")
    start = time.perf_counter()
    page.locator("g.node.ns").first.dispatch_event("click")
    page.wait_for_selector("g.node.op", timeout=120_000)
    elapsed = time.perf_counter() - start
    context.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    scratch = Path(tempfile.mkdtemp(prefix="pulpo-ui-bench-"))
    root = scratch / "jobhunter"
    shutil.copytree(
        REPO / "examples" / "jobhunter",
        root,
        ignore=shutil.ignore_patterns("run_cache", ".pulpo", "__pycache__"),
    )
    env = {
        "PULPO_DB_PORT": str(free_port()),
        "PULPO_PREFECT_PORT": str(free_port()),
        "PULPO_API_PORT": str(free_port()),
        "PULPO_UI_PORT": str(free_port()),
        "PULPO_WORK_POOL": f"bench-ui-{os.getpid()}",
        "PREFECT_API_URL": "",
        "MONGODB_URL": "",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    url = f"http://127.0.0.1:{env['PULPO_UI_PORT']}"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"
    )
    print(f"building the {args.ops}-operation synthetic project …", flush=True)
    graph = synthetic_graph(scratch, args.ops, args.namespaces)
    print("pulpo up (the example) …", flush=True)
    pulpo(root, env, "up")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            timed_page(browser, f"{url}/#/graph", "g.node.op")  # warm the servers
            rows = {
                "example: graph page interactive (every operation drawn)": [
                    timed_page(
                        browser,
                        f"{url}/#/graph",
                        'g.node.op[data-name="storage.save"]',
                    )
                    for _ in range(args.repeats)
                ],
                "example: runs page (table or empty state)": [
                    timed_page(
                        browser, f"{url}/#/runs", "#runs-table :is(table, .state h2)"
                    )
                    for _ in range(args.repeats)
                ],
                f"{args.ops} operations: graph page drawn (namespaces collapsed)": [
                    timed_page(browser, f"{url}/#/graph", "g.node.ns", graph)
                    for _ in range(args.repeats)
                ],
                f"{args.ops} operations: open one namespace (re-layout, drawn)": [
                    open_namespace(browser, f"{url}/#/graph", graph)
                    for _ in range(args.repeats)
                ],
            }
            browser.close()
    finally:
        pulpo(root, env, "down")
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{'measurement':64} {'best':>8} {'median':>8}")
    for name, values in rows.items():
        values.sort()
        print(f"{name:64} {values[0]:7.3f}s {values[len(values) // 2]:7.3f}s")


if __name__ == "__main__":
    main()
