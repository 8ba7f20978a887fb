"""Prefect states as job statuses, and run requests built from flow signatures."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from pulpo.api.runs import STATE_TYPES, STATUSES, RunRequest, run_request, status_of


@pytest.mark.parametrize(
    ("state_type", "status"),
    [
        ("SCHEDULED", "pending"),
        ("PENDING", "pending"),
        ("RUNNING", "processing"),
        ("CANCELLING", "processing"),
        ("PAUSED", "processing"),
        ("COMPLETED", "completed"),
        ("FAILED", "failed"),
        ("CRASHED", "failed"),
        ("CANCELLED", "cancelled"),
    ],
)
def test_every_prefect_state_type_maps_to_a_job_status(
    state_type: str, status: str
) -> None:
    assert status_of(state_type) == status


def test_the_mapping_covers_all_of_prefects_state_types() -> None:
    from prefect.client.schemas.objects import StateType

    mapped = {kind for kinds in STATE_TYPES.values() for kind in kinds}
    assert mapped == {kind.value for kind in StateType}
    assert set(STATE_TYPES) == set(STATUSES)


class Window(BaseModel):
    days: int


class FakeFlow:
    """What run_request reads of a Prefect flow: its name and function."""

    name = "report_flow"

    @staticmethod
    def fn(window: Window, keywords: str = "python", limit: int = 4) -> None: ...


def test_run_request_validates_parameters_against_the_signature() -> None:
    request = run_request(FakeFlow)
    assert request.__name__ == "ReportFlowRun"
    assert issubclass(request, RunRequest)  # the type the generated routes declare
    body = request.model_validate({"parameters": {"window": {"days": 3}, "limit": 2}})
    assert body.parameters.model_dump(mode="json", exclude_unset=True) == {
        "window": {"days": 3},
        "limit": 2,
    }
    for bad in (
        {},
        {"parameters": {"limit": 1}},
        {"parameters": {"window": {"days": 1}, "limit": "many"}},
        {"parameters": {"window": {"days": 1}, "color": "red"}},
        {"parameters": {"window": {"days": 1}}, "priority": 1},
    ):
        with pytest.raises(ValidationError):
            request.model_validate(bad)
