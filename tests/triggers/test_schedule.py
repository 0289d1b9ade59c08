"""Cron specs to ticks: Gojinn's six fields, five fields, descriptors, @every, time zones."""

from __future__ import annotations

import datetime

import pytest

from pyjinn.triggers.schedule import parse_schedule

# 2023-11-14 22:13:20 UTC, a Tuesday.
NOW = 1_700_000_000.0


def utc(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


def test_six_fields_put_seconds_first_as_gojinn_does() -> None:
    schedule = parse_schedule("*/15 * * * * *")
    assert schedule.next_after(NOW) == NOW + 10  # :20 -> :30
    assert schedule.next_after(NOW + 10) == NOW + 25


def test_five_fields_tick_on_minutes() -> None:
    assert parse_schedule("30 3 * * *").next_after(NOW) == utc("2023-11-15T03:30:00")


def test_a_tick_is_strictly_after_the_moment_even_between_whole_seconds() -> None:
    every_second = parse_schedule("* * * * * *")
    assert every_second.next_after(NOW) == NOW + 1
    assert every_second.next_after(NOW + 0.5) == NOW + 1
    assert every_second.next_after(NOW - 0.001) == NOW


def test_descriptors_and_every_are_aligned_so_every_process_agrees() -> None:
    assert parse_schedule("@hourly").next_after(NOW) == utc("2023-11-14T23:00:00")
    assert parse_schedule("@daily").next_after(NOW) == utc("2023-11-15T00:00:00")
    every = parse_schedule("@every 90s")
    assert every.next_after(NOW) % 90 == 0
    assert NOW < every.next_after(NOW) <= NOW + 90


def test_a_time_zone_prefix_moves_the_fields_into_that_zone() -> None:
    paris = parse_schedule("CRON_TZ=Europe/Paris 0 9 * * *")
    assert paris.next_after(NOW) == utc("2023-11-15T08:00:00")  # 09:00 CET
    assert parse_schedule("TZ=UTC 0 9 * * *").next_after(NOW) == utc("2023-11-15T09:00:00")


def test_ticks_between_counts_missed_ticks_and_names_the_latest() -> None:
    hourly = parse_schedule("0 0 * * * *")
    count, latest = hourly.ticks_between(NOW - 3 * 3600, NOW, limit=1000)
    assert count == 3
    assert latest == utc("2023-11-14T22:00:00")
    assert hourly.ticks_between(NOW - 60, NOW, limit=1000) == (0, None)
    count, latest = parse_schedule("* * * * * *").ticks_between(NOW - 5000, NOW, limit=10)
    assert count == 10 and latest == NOW  # counting stops at the limit; the latest is exact


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("61 * * * *", "invalid minute field '61'"),
        ("* * 25 * * *", "invalid hour field '25'"),
        ("* * * *", "it has 4 field(s)"),
        ("* * * * * * 2030", "it has 7 field(s)"),
        ("@fortnightly", "unknown descriptor '@fortnightly'"),
        ("@every 200ms", "the shortest interval is 1s"),
        ("@every soon", "invalid duration 'soon' for @every"),
        ("CRON_TZ=Nowhere/Land * * * * *", "unknown time zone 'Nowhere/Land'"),
        ("0 0 31 2 *", "it never fires"),
        ("", "the schedule is empty"),
    ],
)
def test_an_invalid_spec_says_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=None) as raised:
        parse_schedule(spec)
    assert message in str(raised.value)
