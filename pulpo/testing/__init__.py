"""Run a flow in a test: in-process, no server to start, no build step to remember.

>>> from pulpo.testing import run_flow
>>> result = run_flow(
...     "scraping_flow",
...     {"keywords": "python"},
...     resources={"llm": FakeLLM()},
...     operations={"scraping.linkedin.fetch": fake_fetch},
...     timeout=10,
... )
>>> assert result.ran == ["scraping.linkedin.fetch", "scraping.merge"]
>>> merged = result.output("scraping.merge")

The pytest plugin (:mod:`pulpo.testing.plugin`, loaded automatically once pulpo is
installed) adds the ``pulpo_run`` fixture: ``run_flow`` for the project around the
test file, with Prefect's test server started once per session and stopped after it.
"""

from pulpo.testing.result import FlowFailed, FlowResult, OperationCall, OperationTiming
from pulpo.testing.runner import run_flow

__all__ = ["FlowFailed", "FlowResult", "OperationCall", "OperationTiming", "run_flow"]
