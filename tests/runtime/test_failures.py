"""Error codes: each failure's class carries its code, across processes and through
the text Prefect keeps of a failed run."""

from __future__ import annotations

import pickle

import pytest
from prefect.states import Cancelled, Completed, Crashed, Failed

from pulpo.errors import ERROR_CODE_MEANINGS, ERROR_CODES, RunError
from pulpo.runtime.failures import (
    RAISED,
    OperationFailed,
    OperationTimedOut,
    OutputInvalid,
    code_of_state,
    failure,
)
from pulpo.runtime.outputs import OutputValidationError


class TaskRunTimeoutError(TimeoutError):
    """Named like Prefect's, which pulpo recognises by name."""


def test_every_code_is_explained() -> None:
    assert set(ERROR_CODE_MEANINGS) == set(ERROR_CODES)


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (ValueError("boom"), OperationFailed, "operation_failed"),
        (TaskRunTimeoutError("took too long"), OperationTimedOut, "timeout"),
        (OutputValidationError("bad field"), OutputInvalid, "validation"),
    ],
)
def test_a_failure_outside_a_flow_run_gets_the_code_of_its_error(
    error: Exception, kind: type, code: str
) -> None:
    failed = failure("a.b", error)
    assert type(failed) is kind and failed.code == code
    assert failed.fields() == {"operation": "a.b", "code": code}
    copy = pickle.loads(pickle.dumps(failed))
    assert type(copy) is kind and copy.code == code and copy.message == failed.message


def test_the_code_of_a_run_error_survives_pickling() -> None:
    error = RunError("flow 'x' failed", flow="x", code="timeout")
    assert pickle.loads(pickle.dumps(error)).code == "timeout"


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (Completed(), None),
        (
            Failed(
                name="TimedOut", message="Flow run exceeded timeout of 2.0 second(s)"
            ),
            "timeout",
        ),
        (
            Failed(message=f"{RAISED}OutputInvalid: operation 'a' failed: …"),
            "validation",
        ),
        (Failed(message=f"{RAISED}UpstreamFailed: operation 'a' …"), "upstream_failed"),
        (
            Failed(message=f"{RAISED}OperationFailed: operation 'a' …"),
            "operation_failed",
        ),
        (Failed(message=f"{RAISED}KeyError: 'x'"), "failed"),
        (Crashed(message="killed"), "crashed"),
        (Cancelled(), "cancelled"),
    ],
)
def test_the_code_of_a_finished_run_is_read_from_its_prefect_state(
    state: object, code: str | None
) -> None:
    assert code_of_state(state) == code
