"""Query log formats: placeholders replaced by values of a query (CoreDNS ``plugin/pkg/replacer``).

A format such as ``{remote}:{port} - {>id} "{type} {class} {name} ..."`` is split once, when the
Corefile is set up, into literal text and placeholder getters, exactly the way CoreDNS splits it
(find the first ``}``, take the last ``{`` before it); a query then only concatenates strings.
Unknown placeholders stay as written; ``{/label}`` is a metadata value or ``-``.

Values follow CoreDNS byte for byte: ``{name}`` lower-cased, IPv6 addresses in brackets,
``{rcode}`` as miekg/dns names it (or the number), ``{>rflags}`` in the order
qr,aa,tc,rd,ra,z,ad,cd, ``-`` for rcode and flags when nothing was written, and ``{duration}``
as Go's ``strconv.AppendFloat(seconds, 'f', -1, 64)`` followed by ``s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from clusterdns import wire
from clusterdns.request import Request

EMPTY_VALUE: Final = "-"

#: CoreDNS ``CommonLogFormat``.
COMMON_LOG_FORMAT: Final = (
    "{remote}:{port} - {>id} "
    '"{type} {class} {name} {proto} {size} {>do} {>bufsize}" '
    "{rcode} {>rflags} {rsize} {duration}"
)
#: CoreDNS ``CombinedLogFormat``: the common format and the query's opcode.
COMBINED_LOG_FORMAT: Final = COMMON_LOG_FORMAT + ' "{>opcode}"'
DEFAULT_LOG_FORMAT: Final = COMMON_LOG_FORMAT

#: miekg/dns ``RcodeToString`` (16 is BADSIG there, not BADVERS).
RCODE_NAMES: Final = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 11: "DSOTYPENI",
    16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 19: "BADMODE", 20: "BADNAME", 21: "BADALG",
    22: "BADTRUNC", 23: "BADCOOKIE",
}

#: miekg/dns ``Class.String``: ANY is also a type name, so class 255 prints as CLASS255.
CLASS_NAMES: Final = {1: "IN", 2: "CS", 3: "CH", 4: "HS", 254: "NONE"}

_FLAG_NAMES: Final = (
    (wire.FLAG_QR, "qr"),
    (wire.FLAG_AA, "aa"),
    (wire.FLAG_TC, "tc"),
    (wire.FLAG_RD, "rd"),
    (wire.FLAG_RA, "ra"),
    (wire.FLAG_Z, "z"),
    (wire.FLAG_AD, "ad"),
    (wire.FLAG_CD, "cd"),
)
_FLAG_MASK: Final = sum(bit for bit, _ in _FLAG_NAMES)
_NANOSECONDS_PER_SECOND: Final = 1_000_000_000


@dataclass(slots=True)
class Recorded:
    """What the query log knows of the reply (CoreDNS's ``dnstest.Recorder``)."""

    rcode: int
    flags: int  # the 16-bit header flags word
    size: int  # length as written by the plugin; 0 when nothing was written
    written: bool  # a reply was recorded (CoreDNS ``rr.Msg != nil``)
    start_ns: int  # time.perf_counter_ns() when the query entered the log plugin


Getter = Callable[[Request, Recorded], str]
Part = str | Getter


def rcode_name(rcode: int) -> str:
    return RCODE_NAMES.get(rcode) or str(rcode)


def class_name(qclass: int) -> str:
    return CLASS_NAMES.get(qclass) or f"CLASS{qclass}"


_flag_cache: dict[int, str] = {}


def flags_text(flags: int) -> str:
    """``qr,aa,rd`` for the set header bits, in CoreDNS's order; '' when none is set."""
    flags &= _FLAG_MASK
    text = _flag_cache.get(flags)
    if text is None:
        text = ",".join(name for bit, name in _FLAG_NAMES if flags & bit)
        _flag_cache[flags] = text
    return text


def go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'f', -1, 64)``: shortest round-trip, never an exponent."""
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    if text.endswith(".0"):
        return text[:-2]
    return text


def seconds_text(nanoseconds: int) -> str:
    """Go's ``Duration.Seconds()`` of ``nanoseconds``, formatted as ``{duration}`` shows it."""
    if 0 <= nanoseconds < _NANOSECONDS_PER_SECOND:
        seconds = nanoseconds / 1e9  # Go: float64(0) + float64(nsec)/1e9, the same float
    else:
        whole, fraction = divmod(nanoseconds, _NANOSECONDS_PER_SECOND)
        seconds = float(whole) + float(fraction) / 1e9
    return go_float(seconds) + "s"


def _address(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _rcode(req: Request, rec: Recorded) -> str:
    return rcode_name(rec.rcode) if rec.written else EMPTY_VALUE


def _rflags(req: Request, rec: Recorded) -> str:
    return flags_text(rec.flags) if rec.written else EMPTY_VALUE


def _duration(req: Request, rec: Recorded) -> str:
    return seconds_text(time.perf_counter_ns() - rec.start_ns)


#: The placeholders CoreDNS's replacer knows (case-sensitive, as its map lookup is).
LABELS: Final[dict[str, Getter]] = {
    "{type}": lambda req, rec: req.type_name,
    "{name}": lambda req, rec: req.name,
    "{class}": lambda req, rec: class_name(req.qclass),
    "{proto}": lambda req, rec: req.proto,
    "{size}": lambda req, rec: str(req.request_size),
    "{remote}": lambda req, rec: _address(req.remote_ip),
    "{port}": lambda req, rec: str(req.remote_port),
    "{local}": lambda req, rec: _address(req.local_ip),
    "{>id}": lambda req, rec: str(req.id),
    "{>opcode}": lambda req, rec: str(req.query.opcode),
    "{>do}": lambda req, rec: "true" if req.do else "false",
    "{>bufsize}": lambda req, rec: str(req.size),
    "{rcode}": _rcode,
    "{rsize}": lambda req, rec: str(rec.size),
    "{duration}": _duration,
    "{>rflags}": _rflags,
}


@dataclass(frozen=True, slots=True)
class MetadataValue:
    """``{/label}``: the request's metadata value (a string or a function giving one), or ``-``."""

    label: str

    def __call__(self, req: Request, rec: Recorded) -> str:
        found = req.metadata.get(self.label)
        if found is None:
            return EMPTY_VALUE
        if callable(found):
            return str(found())
        return str(found)


@dataclass(frozen=True, slots=True)
class Format:
    """A format split into literal text and placeholder getters (in the order written)."""

    text: str
    parts: tuple[Part, ...]
    template: str = field(init=False)  # the literals, with a %s where each getter goes
    getters: tuple[Getter, ...] = field(init=False)

    def __post_init__(self) -> None:
        template = "".join(
            part.replace("%", "%%") if isinstance(part, str) else "%s" for part in self.parts
        )
        getters = tuple(part for part in self.parts if not isinstance(part, str))
        object.__setattr__(self, "template", template)
        object.__setattr__(self, "getters", getters)

    def render(self, req: Request, rec: Recorded) -> str:
        return self.template % tuple([getter(req, rec) for getter in self.getters])


def parse_format(text: str) -> Format:
    """Split ``text`` as CoreDNS's ``parseFormat`` does; adjacent literals are joined."""
    parts: list[Part] = []

    def literal(value: str) -> None:
        if parts and isinstance(parts[-1], str):
            parts[-1] += value
        elif value:
            parts.append(value)

    s = text
    while True:
        j = s.find("}")
        if j < 0:
            break
        i = s.rfind("{", 0, j)
        if i < 0:  # "A } {foo}": the text up to the brace is literal
            literal(s[: j + 1])
            s = s[j + 1 :]
            continue
        label = s[i : j + 1]
        getter = LABELS.get(label)
        if getter is None and label.startswith("{/"):
            getter = MetadataValue(label[2:-1])
        if getter is None:  # unknown placeholder: kept as written, with what precedes it
            literal(s[: j + 1])
        else:
            literal(s[:i])
            parts.append(getter)
        s = s[j + 1 :]
    literal(s)
    return Format(text, tuple(parts))


_formats: dict[str, Format] = {}


def load_format(text: str) -> Format:
    """A parsed format, shared by every rule that uses the same text."""
    found = _formats.get(text)
    if found is None:
        found = _formats[text] = parse_format(text)
    return found
