"""pulpo.testing.run_flow against the ``kit`` fixture project, in this process.

The Prefect test server runs for this module only, so that later tests of the suite
see Prefect as they configured it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pulpo.errors import RunError
from pulpo.testing import FlowFailed, run_flow
from pulpo.testing.backend import start_test_backend, stop_test_backend
from pulpo.testing.loading import load_project

KIT = Path(__file__).resolve().parents[1] / "fixtures" / "kit"
CHAIN = [f"chain.s{i:02d}" for i in range(1, 11)]


@pytest.fixture(scope="module", autouse=True)
def prefect_test_server() -> Iterator[None]:
    start_test_backend()
    yield
    stop_test_backend()
    # Later tests of this process import other projects' `run_cache` packages.
    import sys

    from pulpo.testing import loading

    loading._LOADED.clear()
    while str(KIT) in sys.path:
        sys.path.remove(str(KIT))
    for name in [n for n in sys.modules if n.split(".")[0] in ("kit", "run_cache")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def kit_imported() -> None:
    """The kit project built (if stale) and importable, as the first run makes it."""
    load_project(KIT)


@pytest.fixture(scope="module")
def scaler_type(kit_imported: None) -> type:
    from kit.scale import Scaler

    return Scaler


def test_ran_lists_a_chain_in_dependency_order_with_every_output() -> None:
    result = run_flow("chain_flow", {"start": 1}, project=KIT)

    assert result.ran == CHAIN
    # The real resource, opened with factor = 3 from [tool.pulpo.resources.scale].
    assert result.output("chain.s01").value == 3
    assert result.output("chain.s10").value == 12
    timings = result.timings
    for before, after in zip(CHAIN, CHAIN[1:], strict=False):
        assert timings[before].ended <= timings[after].started


def test_a_resource_override_reaches_the_operation(scaler_type: type) -> None:
    result = run_flow(
        "chain_flow", {"start": 1}, resources={"scale": scaler_type(100)}, project=KIT
    )

    assert result.output("chain.s01").value == 100
    assert result.output("chain.s10").value == 109


def test_an_operation_override_replaces_the_function_and_feeds_its_dependents() -> None:
    from kit.chain import Step04, Step05

    def fake_s05(previous: Step04) -> Step05:
        return Step05(value=-previous.value)

    result = run_flow(
        "chain_flow", {"start": 1}, operations={"chain.s05": fake_s05}, project=KIT
    )

    assert result.ran == CHAIN
    assert result.output("chain.s05").value == -6
    assert result.output("chain.s06").value == -5
    # Only for that run: the next one calls the real function again.
    again = run_flow("chain_flow", {"start": 1}, project=KIT)
    assert again.output("chain.s05").value == 7


def test_an_override_with_another_signature_is_refused_naming_the_operation(
    kit_imported: None,
) -> None:
    from kit.chain import Step03

    def renamed(prev: object) -> None: ...

    def retyped(previous: Step03) -> None: ...

    def needy(previous: object, extra: int) -> None: ...

    for fake, problem in [
        (renamed, r"does not take 'previous'"),
        (retyped, r"annotates 'previous' as Step03, the operation as Step04"),
        (needy, r"requires 'extra', which the operation does not take"),
    ]:
        with pytest.raises(RunError, match=rf"'chain\.s05' .*{problem}.*s05\("):
            run_flow(
                "chain_flow", {"start": 1}, operations={"chain.s05": fake}, project=KIT
            )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"operations": {"chain.s5": print}},
            r"unknown operation 'chain\.s5' \(did you mean 'chain\.s05'\?\)",
        ),
        (
            {"operations": {"fan.left": print}},
            r"'fan\.left' does not run in flow 'chain_flow'",
        ),
        (
            {"resources": {"scales": 1}},
            r"unknown resource 'scales' \(did you mean 'scale'\?\)",
        ),
    ],
)
def test_unknown_names_in_the_overrides_are_errors_with_a_suggestion(
    options: dict[str, dict[str, object]], message: str
) -> None:
    with pytest.raises(RunError, match=message):
        run_flow("chain_flow", {"start": 1}, project=KIT, **options)  # type: ignore[arg-type]


def test_an_unknown_flow_or_parameter_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(
        RunError, match=r"unknown flow 'chain' \(did you mean 'chain_flow'\?\)"
    ):
        run_flow("chain", project=KIT)
    with pytest.raises(
        RunError, match=r"no parameter 'stat' \(did you mean 'start'\?\)"
    ):
        run_flow("chain_flow", {"stat": 1}, project=KIT)


def test_timings_show_independent_operations_running_at_the_same_time() -> None:
    result = run_flow("fan_flow", {"delay": 0.5}, project=KIT)

    left, right = result.timings["fan.left"], result.timings["fan.right"]
    assert result.ran[-1] == "fan.join"
    # Serial execution would put one start after the other's end.
    assert right.started < left.ended and left.started < right.ended
    assert result.timings["fan.join"].started >= max(left.ended, right.ended)
    # The functions' own clocks agree: they overlapped by most of their 0.5 s.
    assert result.output("fan.join").overlap > 0.3


def test_the_timeout_fails_the_run_and_keeps_what_ran() -> None:
    started = time.monotonic()
    with pytest.raises(
        FlowFailed, match="did not finish within its timeout of 1 s"
    ) as failure:
        run_flow("slow_flow", {"seconds": 30}, timeout=1, project=KIT)

    assert time.monotonic() - started < 15
    assert failure.value.result.ran == ["slow.wait"]
    assert (
        failure.value.result.timings["slow.wait"].ended is None
        or failure.value.result.calls[0].error is not None
    )


def test_a_processes_flow_runs_in_threads_so_overrides_reach_it(
    scaler_type: type,
) -> None:
    import os

    result = run_flow(
        "pool_flow", {"value": 2}, resources={"scale": scaler_type(7)}, project=KIT
    )

    assert result.output("pool.scale").value == 14
    assert result.output("pool.scale").pid == os.getpid()


def test_later_runs_reuse_the_test_server_and_the_build() -> None:
    """What keeps later runs fast (figures in docs/benchmarks.md): no server start
    and no build per run."""
    import prefect.settings
    from prefect.server.api.server import SubprocessASGIServer

    run_flow("chain_flow", {"start": 1}, project=KIT)
    record = KIT / "run_cache" / "orchestration" / ".build-fingerprint"
    built = record.stat().st_mtime_ns
    api = prefect.settings.PREFECT_API_URL.value()
    server = SubprocessASGIServer._instances[None].server_process

    result = run_flow("chain_flow", {"start": 1}, project=KIT)

    assert len(result.ran) == 10
    assert record.stat().st_mtime_ns == built
    assert prefect.settings.PREFECT_API_URL.value() == api
    assert SubprocessASGIServer._instances[None].server_process is server
    assert server is not None and server.poll() is None
