"""Cron schedules: Gojinn's specs (six fields, seconds first), classic five-field ones, and
robfig/cron's descriptors, as instants in time.

Accepted forms (fields are evaluated by croniter)::

    */5 * * * * *          six fields: second minute hour day-of-month month day-of-week
    0 3 * * 1-5            five fields: minute hour day-of-month month day-of-week
    @hourly @daily @midnight @weekly @monthly @yearly @annually
    @every 90s             every 90 s, counted from the Unix epoch (so every node agrees)
    CRON_TZ=Europe/Paris 0 9 * * *    (or TZ=...) the fields in that time zone; default UTC

Every process of every node computes the same ticks from the same spec: times are UTC unless
the spec names a zone, and ``@every`` is aligned to the epoch rather than to a start time.
"""

from __future__ import annotations

import datetime
import math
import zoneinfo
from dataclasses import dataclass
from typing import Any

from pyjinn.config.units import parse_duration

FORMS = (
    'six fields with seconds ("*/5 * * * * *"), five fields ("0 3 * * *"), '
    "a descriptor (@hourly, @daily, @weekly, @monthly, @yearly) or @every DURATION"
)
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELD_NAMES = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")
_MIN_EVERY = 1.0  # seconds: finer ticks than the scheduler keeps to


@dataclass(frozen=True)
class Schedule:
    """A parsed spec; ``text`` is the spec as written."""

    text: str
    fields: str | None  # cron fields, or None for @every
    every: float | None = None
    zone: str = "UTC"

    @property
    def has_seconds(self) -> bool:
        return self.fields is not None and len(self.fields.split()) == 6

    def next_after(self, moment: float) -> float:
        """The first tick strictly after ``moment`` (Unix seconds)."""
        if self.every is not None:
            return (math.floor(moment / self.every) + 1) * self.every
        assert self.fields is not None
        zone = zoneinfo.ZoneInfo(self.zone)
        start = datetime.datetime.fromtimestamp(moment, zone)
        iterator = _croniter(self.fields, start, self.has_seconds)
        tick: float = iterator.get_next(float)
        if tick <= moment:  # croniter counts from whole seconds
            tick = iterator.get_next(float)
        return tick

    def ticks_between(self, after: float, until: float, limit: int) -> tuple[int, float | None]:
        """(how many ticks fall in (``after``, ``until``], the last of them), counting at most
        ``limit``; the last is the latest tick in that window either way."""
        count, last, moment = 0, None, after
        while count < limit:
            tick = self.next_after(moment)
            if tick > until:
                return count, last
            count, last, moment = count + 1, tick, tick
        latest = self.latest_at_or_before(until)
        return count, latest

    def latest_at_or_before(self, moment: float) -> float | None:
        """The latest tick at or before ``moment``, searching back at most a year."""
        if self.every is not None:
            return math.floor(moment / self.every) * self.every
        assert self.fields is not None
        zone = zoneinfo.ZoneInfo(self.zone)
        start = datetime.datetime.fromtimestamp(moment + 1e-6, zone)
        iterator = _croniter(self.fields, start, self.has_seconds)
        try:
            tick: float = iterator.get_prev(float)
        except ValueError:  # croniter's CroniterError
            return None
        return tick if tick > moment - 366 * 86400 else None


def parse_schedule(text: str) -> Schedule:
    """Parse a cron spec; raises ValueError saying what is wrong and which forms are accepted."""
    spec = text.strip()
    zone = "UTC"
    first, _, rest = spec.partition(" ")
    if first.startswith(("CRON_TZ=", "TZ=")):
        zone = first.split("=", 1)[1]
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {zone!r} (expected a name like Europe/Paris)"
            ) from None
        spec = rest.strip()
    if not spec:
        raise ValueError(f"the schedule is empty; expected {FORMS}")
    if spec.startswith("@every"):
        return Schedule(text, None, _every(spec), zone)
    if spec.startswith("@"):
        fields = _DESCRIPTORS.get(spec)
        if fields is None:
            raise ValueError(f"unknown descriptor {spec!r}; expected {FORMS}")
        return Schedule(text, fields, zone=zone)
    count = len(spec.split())
    if count not in (5, 6):
        raise ValueError(f"it has {count} field(s); expected {FORMS}")
    if not _accepted(spec, count == 6):
        raise ValueError(f"{_bad_field(spec.split())}; expected {FORMS}")
    schedule = Schedule(text, " ".join(spec.split()), zone=zone)
    try:  # a valid-looking spec that never matches (30 February) is no schedule
        schedule.next_after(0.0)
    except ValueError as error:  # croniter's CroniterError among them
        raise ValueError(f"it never fires ({_reason(error)})") from None
    return schedule


def _every(spec: str) -> float:
    parts = spec.split()
    if len(parts) != 2:
        raise ValueError("@every expects one duration, like: @every 30s")
    try:
        seconds = parse_duration(parts[1])
    except ValueError as error:
        raise ValueError(f"invalid duration {parts[1]!r} for @every: {error}") from None
    if seconds < _MIN_EVERY:
        raise ValueError(f"@every {parts[1]} is too short; the shortest interval is 1s")
    return seconds


def _croniter(fields: str, start: Any, has_seconds: bool) -> Any:
    # Imported on first use: importing croniter runs `file` on the interpreter
    # (platform.architecture), tens of milliseconds of every start without a cron line.
    from croniter import croniter

    return croniter(fields, start, second_at_beginning=has_seconds)


def _accepted(spec: str, has_seconds: bool) -> bool:
    try:
        _croniter(spec, 0.0, has_seconds)
    except (ValueError, KeyError, IndexError):  # croniter's CroniterError is a ValueError
        return False
    return True


def _bad_field(fields: list[str]) -> str:
    """Which field croniter refused, found by trying each one alone."""
    names = _FIELD_NAMES[-len(fields) :]
    for index, (value, name) in enumerate(zip(fields, names, strict=True)):
        alone = ["*"] * len(fields)
        alone[index] = value
        if not _accepted(" ".join(alone), len(fields) == 6):
            return f"invalid {name} field {value!r}"
    return "the fields do not combine into a schedule"


def _reason(error: Exception) -> str:
    text = str(error)
    # croniter repeats the whole spec in brackets first: keep only what is wrong.
    if text.startswith("[") and "] " in text:
        text = text.split("] ", 1)[1]
    return text.rstrip(".")
