"""Flow schedules: ``schedule`` (and ``timezone``) in ``[tool.pulpo.flows.<flow>]``.

One key holds a cron line (``"*/5 * * * *"``), an interval (``30``, ``"30s"``,
``"5m"``) or an iCalendar RRULE (``"RRULE:FREQ=DAILY;BYHOUR=6"``); which one is told
by its shape. Validated when the settings load; turned into Prefect's own schedule
when ``pulpo prefect deploy`` (or ``pulpo up``) registers the deployment.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pulpo.durations import describe_duration, parse_duration

ScheduleKind = Literal["cron", "interval", "rrule"]
# Intervals count from here, so a schedule's times do not move when it is deployed
# again (Prefect's own default anchor is the moment of deployment).
ANCHOR = datetime.datetime(2020, 1, 1)
MIN_INTERVAL_SECONDS = 1.0
HOW = (
    'a cron line ("0 6 * * *"), an interval in seconds or with a unit (30, "30s", '
    '"5m", "2h", "1d") or an RRULE ("RRULE:FREQ=DAILY;BYHOUR=6")'
)
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?LW#-]+$")


@dataclass(frozen=True)
class FlowSchedule:
    """When a flow's deployment runs by itself.

    ``value`` is the cron line or RRULE text, or the interval in seconds as text.
    """

    kind: ScheduleKind
    value: str
    timezone: str | None = None

    @property
    def seconds(self) -> float:
        """The interval of an interval schedule."""
        return float(self.value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone or "UTC")

    def describe(self) -> str:
        """``every 30 s``, ``cron 0 6 * * * (Europe/Madrid)``: for people."""
        text = (
            f"every {describe_duration(self.seconds)}"
            if self.kind == "interval"
            else f"{self.kind} {self.value}"
        )
        return f"{text} ({self.timezone})" if self.timezone else text

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "value": self.seconds if self.kind == "interval" else self.value,
            "timezone": self.timezone or "UTC",
            "description": self.describe(),
        }

    def next_run(self, after: datetime.datetime) -> datetime.datetime | None:
        """The first time after ``after`` (aware) that the schedule fires, computed
        here as Prefect's scheduler does; None when an RRULE has no more dates."""
        local = after.astimezone(self.zone)
        if self.kind == "interval":
            anchor = ANCHOR.replace(tzinfo=self.zone).astimezone(datetime.UTC)
            step = datetime.timedelta(seconds=self.seconds)
            periods = (after.astimezone(datetime.UTC) - anchor) // step + 1
            return (anchor + periods * step).astimezone(self.zone)
        if self.kind == "cron":
            from prefect._vendor.croniter import croniter

            found: datetime.datetime = croniter(
                self.value, local.replace(microsecond=0)
            ).get_next(datetime.datetime)
            return found
        from dateutil.rrule import rrulestr

        rule: Any = rrulestr(self.value, dtstart=ANCHOR.replace(tzinfo=self.zone))
        following: datetime.datetime | None = rule.after(local)
        return following

    def prefect(self) -> Any:
        """Prefect's schedule object for ``flow.deploy(schedules=[...])``."""
        from prefect.schedules import Cron, Interval, RRule

        if self.kind == "interval":
            return Interval(
                self.seconds,
                anchor_date=ANCHOR.replace(tzinfo=self.zone),
                timezone=self.timezone or "UTC",
            )
        if self.kind == "cron":
            return Cron(self.value, timezone=self.timezone or "UTC")
        return RRule(self.value, timezone=self.timezone or "UTC")


def parse_schedule(value: object, timezone: str | None = None) -> FlowSchedule:
    """The schedule written as ``value``, in ``timezone`` (IANA name; UTC if None).

    Raises:
        ValueError: a sentence naming what is wrong and how to write it.
    """
    if timezone is not None:
        check_timezone(timezone)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"schedule must be {HOW} (got {value!r})")
    if (
        isinstance(value, int | float)
        or re.match(r"^\s*\d", value)
        and (len(value.split()) == 1)
    ):
        return FlowSchedule("interval", repr(_interval(value)), timezone)
    text = value.strip()
    if text.upper().startswith(("RRULE:", "DTSTART", "FREQ=")):
        return FlowSchedule("rrule", _rrule(text), timezone)
    if len(text.split()) in (5, 6) and all(map(_CRON_FIELD.match, text.split())):
        return FlowSchedule("cron", _cron(text), timezone)
    raise ValueError(f"schedule must be {HOW} (got {value!r})")


def check_timezone(name: str) -> None:
    """Raises ValueError unless ``name`` is an IANA time zone such as Europe/Madrid."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"timezone must be an IANA time zone name such as 'Europe/Madrid' or "
            f"'UTC' (got {name!r})"
        ) from None


def _interval(value: str | float) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as error:
        raise ValueError(f"schedule interval {error}") from None
    if seconds < MIN_INTERVAL_SECONDS:
        raise ValueError(
            f"schedule interval must be at least {MIN_INTERVAL_SECONDS:g} s "
            f"(got {value!r})"
        )
    return seconds


def _cron(text: str) -> str:
    # Prefect's own check (its croniter), so that what loads also deploys.
    from prefect._internal.schemas.validators import validate_cron_string

    try:
        return validate_cron_string(text)
    except ValueError:
        raise ValueError(
            f"schedule {text!r} is not a valid cron line; write five fields: minute "
            f'hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"'
        ) from None


def _rrule(text: str) -> str:
    from dateutil.rrule import rrulestr

    rule = text if not text.upper().startswith("FREQ=") else f"RRULE:{text}"
    try:
        rrulestr(rule)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"schedule {text!r} is not a valid RRULE ({error}); e.g. "
            f'"RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=6"'
        ) from None
    return rule
