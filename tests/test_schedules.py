"""Flow schedules in [tool.pulpo.flows.<flow>]: checked on load, next runs computed."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest

from pulpo.durations import parse_duration
from pulpo.errors import ProjectError
from pulpo.project import Project
from pulpo.schedules import FlowSchedule, parse_schedule
from pulpo.settings import Settings


def settings(tmp_path: Path, table: str) -> Settings:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\n\n[tool.pulpo]\nmodules = ["shop.ops"]\n'
        f"[tool.pulpo.flows.report_flow]\n{table}"
    )
    return Project.find(tmp_path).settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PULPO_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("schedule = 30\n", FlowSchedule("interval", "30.0")),
        ("schedule = '5m'\n", FlowSchedule("interval", "300.0")),
        (
            "schedule = '0 6 * * 1-5'\ntimezone = 'Europe/Madrid'\n",
            FlowSchedule("cron", "0 6 * * 1-5", "Europe/Madrid"),
        ),
        (
            "schedule = 'FREQ=WEEKLY;BYDAY=MO'\n",
            FlowSchedule("rrule", "RRULE:FREQ=WEEKLY;BYDAY=MO"),
        ),
        ("retry_crashed = 2\n", None),
    ],
)
def test_each_kind_of_schedule_is_read_from_its_shape(
    tmp_path: Path, table: str, expected: FlowSchedule | None
) -> None:
    assert settings(tmp_path, table).flows["report_flow"].flow_schedule == expected


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("schedule = '5x'\n", "schedule interval '5x' is not a duration"),
        ("schedule = '0.5s'\n", "schedule interval must be at least 1 s"),
        ("schedule = '61 * * * *'\n", "is not a valid cron line; write five fields"),
        ("schedule = 'FREQ=SOMETIMES'\n", "is not a valid RRULE"),
        ("schedule = true\n", "schedule must be a cron line"),
        ("schedule = 'every day'\n", "schedule must be a cron line"),
        ("schedule = '5s'\ntimezone = 'Mars/Base'\n", "timezone must be an IANA"),
        ("timezone = 'UTC'\n", "timezone needs a schedule"),
        ("retry_crashed = -1\n", "retry_crashed must be a whole number"),
        ("schedul = '5s'\n", "(did you mean 'schedule'?)"),
    ],
)
def test_a_wrong_schedule_is_one_sentence_naming_the_table(
    tmp_path: Path, table: str, message: str
) -> None:
    with pytest.raises(ProjectError) as raised:
        settings(tmp_path, table)
    text = str(raised.value)
    assert "[tool.pulpo.flows.report_flow]" in text and message in text
    assert "\n" not in text


def test_next_runs_follow_the_schedule_in_its_time_zone() -> None:
    at = datetime.datetime(2026, 7, 1, 4, 59, 58, tzinfo=datetime.UTC)
    every = parse_schedule("30s")
    assert every.next_run(at) == datetime.datetime(
        2026, 7, 1, 5, 0, 0, tzinfo=datetime.UTC
    )
    # Not moved by when it was deployed: counted from a fixed anchor.
    assert every.next_run(at + datetime.timedelta(seconds=1)) == every.next_run(at)
    cron = parse_schedule("0 6 * * *", "Europe/Madrid")  # 06:00 CEST is 04:00 UTC
    assert cron.next_run(at) == datetime.datetime(2026, 7, 2, 4, 0, tzinfo=datetime.UTC)
    rule = parse_schedule("RRULE:FREQ=DAILY;BYHOUR=5;BYMINUTE=0;BYSECOND=0")
    assert rule.next_run(at) == datetime.datetime(2026, 7, 1, 5, 0, tzinfo=datetime.UTC)


def test_durations_take_units() -> None:
    assert [parse_duration(t) for t in ("90", "0s", "30m", "12h", "7d", "2w")] == [
        90,
        0,
        1800,
        43200,
        604800,
        1209600,
    ]
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
    with pytest.raises(ValueError, match="longer than 100 years"):
        parse_duration("99999999999999999999d")
