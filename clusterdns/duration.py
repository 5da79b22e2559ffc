"""Go's ``time.ParseDuration`` and ``Duration.String``, because CoreDNS speaks durations so.

A Corefile written for CoreDNS says ``reload 300ms`` or ``lameduck 1h30m``; the same text must
be accepted (and the same text rejected, with Go's message) here. Units: ns, us (µs, μs), ms,
s, m, h; decimal fractions and several unit groups are allowed; a bare ``0`` needs no unit.
Log lines print durations the way Go does (``5m0s``, ``1.5s``, ``300ms``).
"""

from __future__ import annotations

from typing import Final

_UNIT_NANOSECONDS: Final = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_MAX_NANOSECONDS: Final = (1 << 63) - 1


def _quote(text: str) -> str:
    """Go's ``%q`` for the plain strings durations are made of."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_duration(text: str) -> int:
    """The duration in nanoseconds; raises ``ValueError`` where Go's parser errors."""
    s = text
    negative = False
    if s[:1] in ("-", "+"):
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"time: invalid duration {_quote(text)}")
    total = 0
    while s:
        if not (s[0] == "." or s[0].isascii() and s[0].isdigit()):
            raise ValueError(f"time: invalid duration {_quote(text)}")
        i = 0
        while i < len(s) and s[i].isascii() and s[i].isdigit():
            i += 1
        whole, s = s[:i], s[i:]
        fraction = ""
        if s[:1] == ".":
            s = s[1:]
            i = 0
            while i < len(s) and s[i].isascii() and s[i].isdigit():
                i += 1
            fraction, s = s[:i], s[i:]
        if not whole and not fraction:
            raise ValueError(f"time: invalid duration {_quote(text)}")
        i = 0
        while i < len(s) and s[i] != "." and not (s[i].isascii() and s[i].isdigit()):
            i += 1
        unit, s = s[:i], s[i:]
        if not unit:
            raise ValueError(f"time: missing unit in duration {_quote(text)}")
        if unit not in _UNIT_NANOSECONDS:
            raise ValueError(f"time: unknown unit {_quote(unit)} in duration {_quote(text)}")
        scale = _UNIT_NANOSECONDS[unit]
        value = int(whole or "0")
        if value > _MAX_NANOSECONDS // scale:
            raise ValueError(f"time: invalid duration {_quote(text)}")
        nanoseconds = value * scale
        if fraction:
            # Go keeps fractions to the nanosecond, truncating the rest.
            nanoseconds += int(fraction) * scale // 10 ** len(fraction)
        total += nanoseconds
        if total > _MAX_NANOSECONDS + (1 if negative else 0):
            raise ValueError(f"time: invalid duration {_quote(text)}")
    return -total if negative else total


def parse_seconds(text: str) -> float:
    """A Go duration in seconds, as asyncio timers want it."""
    return parse_duration(text) / 1_000_000_000


def format_duration(nanoseconds: int) -> str:
    """Go's ``time.Duration.String``: ``0s``, ``1.5µs``, ``300ms``, ``5m0s``, ``1h2m3.5s``."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    n = abs(nanoseconds)
    if n < 1_000_000_000:
        for unit, scale in (("ns", 1), ("\u00b5s", 1_000), ("ms", 1_000_000)):
            if n < scale * 1000:
                return sign + _decimal(n, scale) + unit
    hours, n = divmod(n, 3600 * 1_000_000_000)
    minutes, n = divmod(n, 60 * 1_000_000_000)
    text = _decimal(n, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def _decimal(value: int, scale: int) -> str:
    whole, fraction = divmod(value, scale)
    if not fraction:
        return str(whole)
    digits = str(fraction).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
