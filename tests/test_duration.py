"""Go duration syntax: parsing as ``time.ParseDuration`` and printing as ``Duration.String``."""

from __future__ import annotations

import pytest

from clusterdns.duration import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("0", 0),
        ("5s", 5_000_000_000),
        ("100ms", 100_000_000),
        ("1.5h", 5_400_000_000_000),
        ("2h45m", 9_900_000_000_000),
        ("1m30.5s", 90_500_000_000),
        ("-1s", -1_000_000_000),
        ("+3us", 3_000),
        ("3µs", 3_000),
        (".5s", 500_000_000),
    ],
)
def test_parse_duration(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize("text", ["", "5", "s", "1.s.", ".s", "1d", "-", "1s2", "9999999999999999999h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "0s"), (1, "1ns"), (1_500, "1.5\u00b5s"), (300_000_000, "300ms"),
        (1_500_000_000, "1.5s"), (300_000_000_000, "5m0s"), (5_403_500_000_000, "1h30m3.5s"),
        (-2_000_000_000, "-2s"),
    ],
)
def test_format_duration_as_go(nanoseconds: int, text: str) -> None:
    assert format_duration(nanoseconds) == text


def test_errors_read_like_go() -> None:
    with pytest.raises(ValueError, match='^time: invalid duration "x"$'):
        parse_duration("x")
    with pytest.raises(ValueError, match='^time: unknown unit "d" in duration "1d"$'):
        parse_duration("1d")
