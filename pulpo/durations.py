"""Durations written as people write them: ``90``, ``30s``, ``5m``, ``2h``, ``7d``."""

from __future__ import annotations

import re

# Longer spans overflow datetime arithmetic; nobody means them.
LONGEST_SECONDS = 100 * 365 * 86400.0
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(value: str | float) -> float:
    """Seconds in ``value``: a number of seconds, or a number with a unit (s, m, h,
    d, w).

    Raises:
        ValueError: not a duration (the message says how to write one).
    """
    if isinstance(value, bool):  # True is an int to Python, not a duration
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        found = _DURATION.match(value)
        if found is None:
            raise ValueError(
                f"{value!r} is not a duration; write seconds (90) or a number with a "
                f"unit: 30s, 5m, 2h, 7d, 2w"
            )
        seconds = float(found.group(1)) * UNITS[found.group(2) or "s"]
    if seconds < 0:
        raise ValueError(f"{value!r} is negative")
    if not seconds <= LONGEST_SECONDS:  # also NaN
        raise ValueError(f"{value!r} is longer than 100 years")
    return seconds


def describe_duration(seconds: float) -> str:
    """``30 s``, ``5 min``, ``2 h``, ``7 d``: the largest whole unit."""
    for size, name in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {name}"
    return f"{seconds:g} s"
