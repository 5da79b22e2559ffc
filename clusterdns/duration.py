"""Go's ``time.ParseDuration`` and ``Duration.String``, because CoreDNS speaks Go time.

Corefiles written for CoreDNS say ``reload 300ms``, ``lameduck 5s``, ``consolidate 5m ...``;
the same text must be accepted (and rejected, with Go's exact message, which CoreDNS shows as
the Corefile error), and log lines print durations the way Go prints a ``time.Duration``
(``5m0s``, ``30s``, ``100ms``, ``1h0m0s``). Durations are integers of nanoseconds, as in Go.
"""

from __future__ import annotations

from typing import Final

NANOSECOND: Final = 1
MICROSECOND: Final = 1_000 * NANOSECOND
MILLISECOND: Final = 1_000 * MICROSECOND
SECOND: Final = 1_000 * MILLISECOND
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE

_UNITS: Final = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek small letter mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_LIMIT: Final = 1 << 63  # Go works in uint64 and checks against 1<<63
_DIGITS: Final = "0123456789"


class DurationError(ValueError):
    """A duration Go's parser rejects; ``str()`` is Go's message word for word."""


def _quote(text: str) -> str:
    """The ``quote`` of Go's time package: printable ASCII kept, other bytes as ``\\xNN``."""
    out = ['"']
    for char in text:
        if char >= "\x80" or char < " ":
            out.extend(f"\\x{byte:02x}" for byte in char.encode("utf-8", "surrogatepass"))
        else:
            if char in '"\\':
                out.append("\\")
            out.append(char)
    out.append('"')
    return "".join(out)


def _invalid(orig: str) -> DurationError:
    return DurationError("time: invalid duration " + _quote(orig))


def parse_duration(text: str) -> int:
    """Nanoseconds of a Go duration string (``1h30m``, ``300ms``, ``-1.5s``, ``0``)."""
    orig = text
    s = text
    negative = False
    if s and s[0] in "-+":
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise _invalid(orig)
    total = 0
    while s:
        if not (s[0] == "." or s[0] in _DIGITS):
            raise _invalid(orig)
        # the integer part [0-9]*
        i = 0
        value = 0
        while i < len(s) and s[i] in _DIGITS:
            if value > _LIMIT // 10:
                raise _invalid(orig)
            value = value * 10 + ord(s[i]) - 48
            if value > _LIMIT:
                raise _invalid(orig)
            i += 1
        had_integer = i > 0
        s = s[i:]
        # the fraction (\.[0-9]*)?
        fraction, scale, had_fraction = 0, 1.0, False
        if s and s[0] == ".":
            s = s[1:]
            i = 0
            overflow = False
            while i < len(s) and s[i] in _DIGITS:
                if not overflow:
                    if fraction > (_LIMIT - 1) // 10:
                        overflow = True
                    else:
                        candidate = fraction * 10 + ord(s[i]) - 48
                        if candidate > _LIMIT:
                            overflow = True
                        else:
                            fraction = candidate
                            scale *= 10
                i += 1
            had_fraction = i > 0
            s = s[i:]
        if not had_integer and not had_fraction:
            raise _invalid(orig)
        # the unit
        i = 0
        while i < len(s) and s[i] != "." and s[i] not in _DIGITS:
            i += 1
        if i == 0:
            raise DurationError("time: missing unit in duration " + _quote(orig))
        unit_text, s = s[:i], s[i:]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise DurationError(
                "time: unknown unit " + _quote(unit_text) + " in duration " + _quote(orig)
            )
        if value > _LIMIT // unit:
            raise _invalid(orig)
        value *= unit
        if fraction > 0:
            # float64, as Go: nanosecond accurate for fractions of the largest unit
            value += int(float(fraction) * (float(unit) / scale))
            if value > _LIMIT:
                raise _invalid(orig)
        total += value
        if total > _LIMIT:
            raise _invalid(orig)
    if negative:
        return -total
    if total > _LIMIT - 1:
        raise _invalid(orig)
    return total


def _fraction(value: int, precision: int) -> tuple[str, int]:
    """Go's ``fmtFrac``: ``.digits`` of value/10**precision without trailing zeros."""
    digits = []
    printing = False
    for _ in range(precision):
        digit = value % 10
        printing = printing or digit != 0
        if printing:
            digits.append(chr(48 + digit))
        value //= 10
    text = ("." + "".join(reversed(digits))) if printing else ""
    return text, value


def format_duration(nanoseconds: int) -> str:
    """``Duration.String()``: ``1h0m0s``, ``5m0s``, ``1.5s``, ``100ms``, ``2µs``, ``0s``."""
    u = -nanoseconds if nanoseconds < 0 else nanoseconds
    if u < SECOND:
        if u == 0:
            return "0s"
        if u < MICROSECOND:
            text = f"{u}ns"
        elif u < MILLISECOND:
            frac, whole = _fraction(u, 3)
            text = f"{whole}{frac}\u00b5s"
        else:
            frac, whole = _fraction(u, 6)
            text = f"{whole}{frac}ms"
    else:
        frac, u = _fraction(u, 9)
        text = f"{u % 60}{frac}s"
        u //= 60
        if u > 0:
            text = f"{u % 60}m{text}"
            u //= 60
            if u > 0:
                text = f"{u}h{text}"
    return "-" + text if nanoseconds < 0 else text


def parse_seconds(text: str) -> float:
    """A Go duration in seconds, as asyncio timers want it."""
    return parse_duration(text) / SECOND
