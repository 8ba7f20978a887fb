"""pytest plugin of :mod:`pulpo.testing`, registered through the ``pytest11`` entry
point: the ``pulpo_run`` fixture and the session-wide Prefect test server.

Importing it costs nothing: Prefect loads only when a test asks for ``pulpo_run``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pulpo.testing.result import FlowResult


@pytest.fixture(scope="session")
def pulpo_prefect() -> Iterator[None]:
    """Prefect's test server, started for the first test that runs a flow and
    stopped at the end of the session."""
    from pulpo.testing.backend import start_test_backend, stop_test_backend

    start_test_backend()
    yield
    stop_test_backend()


@pytest.fixture
def pulpo_run(
    pulpo_prefect: None, request: pytest.FixtureRequest
) -> Callable[..., FlowResult]:
    """:func:`pulpo.testing.run_flow` for the project that holds the test file.

    ``pulpo_run("topics_flow", {"title": "..."}, resources={"llm": FakeLLM()})``.
    Pass ``project=`` to run another project's flow.
    """
    from pulpo.testing.runner import run_flow

    here = Path(str(request.path)).parent

    def run(
        flow: str, params: dict[str, Any] | None = None, **options: Any
    ) -> FlowResult:
        options.setdefault("project", here)
        return run_flow(flow, params, **options)

    return run
