from __future__ import annotations

import pytest

from pyjinn.config.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("300ms", 0.3),
        ("1.5s", 1.5),
        ("2m", 120.0),
        ("1h30m", 5400.0),
        ("1h30m15s", 5415.0),
        ("10us", 10e-6),
        ("10\u00b5s", 10e-6),
        ("10\u03bcs", 10e-6),
        ("500ns", 500e-9),
        ("2d", 172800.0),
        (".5s", 0.5),
        ("0s", 0.0),
        ("0", 0.0),  # Go accepts a bare zero, and only zero
        ("-1s", -1.0),
        ("+2s", 2.0),
    ],
)
def test_parse_duration_accepts_go_syntax_and_days(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["2", "1.5", "", "s", "2 s", "2S", "1h 30m", "1.5.3s", "2sec", "ms5", "-", "1y"]
)
def test_parse_duration_rejects_bare_numbers_and_unknown_units(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected a duration like 2s, 500ms or 1h30m$"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1048576),
        ("0", 0),
        ("12B", 12),
        ("1K", 1000),
        ("1KB", 1000),
        ("1kb", 1000),
        ("1Ki", 1024),
        ("1KiB", 1024),
        ("64MB", 64_000_000),
        ("128MiB", 128 * 1024**2),
        ("128 MiB", 128 * 1024**2),
        ("1.5MiB", 1572864),
        ("1.1MB", 1_100_000),  # exact, not 1099999 through float rounding
        ("2G", 2_000_000_000),
        ("4GiB", 4 * 1024**3),
        ("1gib", 1024**3),
        ("1TiB", 1024**4),
        ("1,000KB", 1_000_000),
        ("0.5B", 0),  # floored to whole bytes
        ("1.9", 1),
    ],
)
def test_parse_size_follows_go_humanize(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "12 parsecs", "-1", "1.5.2MiB", "1 M i B", "0x10"])
def test_parse_size_rejects_what_go_humanize_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected a size like 128MiB, 512KB or 1048576$"):
        parse_size(text)


@pytest.mark.parametrize("text", ["2562048h", "9" * 400 + "h", "-" + "9" * 400 + "s"])
def test_parse_duration_rejects_what_overflows_a_go_duration(text: str) -> None:
    with pytest.raises(ValueError, match=r"of at most 2562047h"):
        parse_duration(text)


def test_parse_duration_accepts_the_longest_go_duration() -> None:
    assert parse_duration("2562047h") == 2562047 * 3600.0


@pytest.mark.parametrize(
    "text", ["16EiB", "18446744073709551616", "9" * 5000, "1" + "0" * 60 + "KiB"]
)
def test_parse_size_rejects_sizes_past_a_uint64_without_python_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected a size like .*, below 16EiB$"):
        parse_size(text)


def test_parse_size_accepts_the_largest_uint64_and_long_zero_padding() -> None:
    assert parse_size("18446744073709551615") == 2**64 - 1
    assert parse_size("0" * 5000 + "1KiB") == 1024
    assert parse_size("1." + "0" * 5000 + "KiB") == 1024
