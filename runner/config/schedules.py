"""Schedule expressions of job files, parsed into ScheduleSpec values.

Accepted forms: ``every 30 seconds`` / ``every 30s``, ``every 5 minutes`` /
``every 5m``, ``every 2 hours`` / ``every 2h``, ``every day at 10:30``,
``every monday at 09:00``, either at-time optionally followed by an IANA time zone
(``every day at 02:30 Europe/Berlin``), and 5-field cron expressions
(``*/5 * * * *``), which croniter parses.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from typing import Literal

from croniter import croniter

WEEKDAYS = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
_INTERVAL_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
}
_INTERVAL = re.compile(r"every\s+(?:(-?\d+)\s*)?([a-z]+)")
_AT_TIME = re.compile(
    r"every\s+([a-z]+)\s+at\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s+(\S+))?"
)

SCHEDULE_HELP = (
    "write 'every 30s', 'every 5 minutes', 'every day at 10:30', "
    "'every monday at 09:00 Europe/Berlin' or a quoted 5-field cron expression "
    "such as '*/5 * * * *'"
)


@dataclass(frozen=True)
class ScheduleSpec:
    """A parsed schedule; which fields are set depends on ``kind``."""

    text: str
    kind: Literal["interval", "daily", "weekly", "cron"]
    interval_seconds: int = 0
    at: dt.time | None = None
    weekday: str | None = None
    timezone: str | None = None
    cron: str | None = None


def parse_schedule(text: str) -> ScheduleSpec:
    """Parse one schedule expression; raise ValueError that lists the accepted forms."""
    normalized = " ".join(text.strip().split())
    lowered = normalized.lower()
    if not lowered.startswith("every"):
        return _parse_cron(normalized)
    at_match = _AT_TIME.fullmatch(lowered)
    if at_match:
        return _parse_at_time(normalized, at_match)
    interval_match = _INTERVAL.fullmatch(lowered)
    if interval_match:
        return _parse_interval(normalized, interval_match)
    raise ValueError(f"invalid schedule {text!r}; {SCHEDULE_HELP}")


def _parse_interval(text: str, match: re.Match[str]) -> ScheduleSpec:
    count_text, unit = match.groups()
    if unit not in _INTERVAL_UNITS:
        raise ValueError(
            f"invalid schedule {text!r}: unknown unit {unit!r}; {SCHEDULE_HELP}"
        )
    count = int(count_text) if count_text is not None else 1
    if count <= 0:
        raise ValueError(
            f"invalid schedule {text!r}: the interval must be more than zero"
        )
    return ScheduleSpec(
        text, "interval", interval_seconds=count * _INTERVAL_UNITS[unit]
    )


def _parse_at_time(text: str, match: re.Match[str]) -> ScheduleSpec:
    day, hour, minute, second, _ = match.groups()
    # The time zone keeps its spelling: IANA names are case-sensitive on disk.
    zone = text.split()[-1] if match.group(5) else None
    if int(hour) > 23 or int(minute) > 59 or int(second or 0) > 59:
        raise ValueError(f"invalid schedule {text!r}: no such time of day")
    at = dt.time(int(hour), int(minute), int(second or 0))
    if zone is not None:
        _check_timezone(text, zone)
    if day == "day":
        return ScheduleSpec(text, "daily", at=at, timezone=zone)
    if day in WEEKDAYS:
        return ScheduleSpec(text, "weekly", at=at, weekday=day, timezone=zone)
    raise ValueError(
        f"invalid schedule {text!r}: {day!r} is not 'day' or a weekday name "
        "(monday to sunday)"
    )


def _check_timezone(text: str, zone: str) -> None:
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"invalid schedule {text!r}: unknown time zone {zone!r}; use an IANA "
            "name such as Europe/Berlin or UTC"
        ) from None


def _parse_cron(text: str) -> ScheduleSpec:
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"invalid schedule {text!r}: a cron expression has 5 fields "
            f"(minute hour day-of-month month day-of-week), found {len(fields)}; "
            f"or {SCHEDULE_HELP}"
        )
    if not croniter.is_valid(text):
        raise ValueError(f"invalid cron expression {text!r}; {_cron_problem(fields)}")
    return ScheduleSpec(text, "cron", cron=text)


_CRON_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or jan-dec"),
    ("day-of-week", "0-6 or sun-sat"),
)


def _cron_problem(fields: list[str]) -> str:
    """Name the first cron field that is invalid on its own, with its range."""
    for index, (name, allowed) in enumerate(_CRON_FIELDS):
        probe = ["*"] * 5
        probe[index] = fields[index]
        if not croniter.is_valid(" ".join(probe)):
            return f"the {name} field {fields[index]!r} is invalid (allowed: {allowed})"
    return "the fields do not fit together; check each of its 5 fields"
