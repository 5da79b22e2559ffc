"""The query log replacer: how formats are split and what each placeholder prints.

Cases follow CoreDNS's ``plugin/pkg/replacer/replacer_test.go``; numbers are printed the way
Go prints them (``strconv.AppendFloat(x, 'f', -1, 64)`` for the duration).
"""

from __future__ import annotations

import time

import dns.flags
import dns.message
import pytest

from clusterdns import wire
from clusterdns.plugins.log.replacer import (
    COMMON_LOG_FORMAT,
    LABELS,
    MetadataValue,
    Recorded,
    class_name,
    flags_text,
    go_float,
    load_format,
    parse_format,
    rcode_name,
    seconds_text,
)
from clusterdns.request import Request


def request(
    name: str = "Example.ORG.",
    rdtype: str = "A",
    *,
    proto: str = "udp",
    remote: str = "10.240.0.1",
    edns: int | bool = False,
    payload: int = 1232,
    dnssec: bool = False,
    qid: int = 1053,
    flags: int = dns.flags.RD,
) -> Request:
    message = dns.message.make_query(
        name, rdtype, use_edns=edns, payload=payload, want_dnssec=dnssec, id=qid, flags=flags
    )
    parsed = wire.parse_query(message.to_wire())
    assert isinstance(parsed, wire.Query)
    return Request(parsed, proto, remote, 40212, "127.0.0.1", 53)


def recorded(rcode: int = 0, flags: int = 0x8500, size: int = 56, written: bool = True) -> Recorded:
    return Recorded(rcode, flags, size, written, time.perf_counter_ns())


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("", []),
        ("plain text", ["plain text"]),
        ("{type}", ["<{type}>"]),
        ("{type} {name}", ["<{type}>", " ", "<{name}>"]),
        ("A {type}!", ["A ", "<{type}>", "!"]),
        ("{unknown}", ["{unknown}"]),
        ("A {unknown} {type}", ["A {unknown} ", "<{type}>"]),
        ("A } {type}", ["A } ", "<{type}>"]),
        ("{ {type} }", ["{ ", "<{type}>", " }"]),
        ("{{type}}", ["{", "<{type}>", "}"]),
        ("{TYPE}", ["{TYPE}"]),
        ("{>ID}", ["{>ID}"]),
        ("{/kubernetes/pod}", ["</kubernetes/pod>"]),
        ("{/}", ["</>"]),
        ("{type", ["{type"]),
        ("type}", ["type}"]),
    ],
)
def test_formats_split_as_coredns_splits_them(text: str, shape: list[str]) -> None:
    names = {getter: label for label, getter in LABELS.items()}
    parts = parse_format(text).parts
    got = []
    for part in parts:
        if isinstance(part, str):
            got.append(part)
        elif part in names:
            got.append(f"<{names[part]}>")
        else:
            assert isinstance(part, MetadataValue)
            got.append(f"</{part.label}>")
    assert got == shape


def test_common_format_renders_every_field() -> None:
    line = load_format(COMMON_LOG_FORMAT).render(request(), recorded())
    prefix = '10.240.0.1:40212 - 1053 "A IN example.org. udp 29 false 512" NOERROR qr,aa,rd 56 '
    assert line.startswith(prefix)
    duration = line[len(prefix) :]
    assert duration.endswith("s") and "e" not in duration
    assert 0 < float(duration[:-1]) < 5


@pytest.mark.parametrize(
    ("placeholder", "req", "rec", "value"),
    [
        ("{type}", request(rdtype="SRV"), recorded(), "SRV"),
        ("{type}", request(rdtype="TYPE65280"), recorded(), "TYPE65280"),
        ("{name}", request(name="A.Example.Org"), recorded(), "a.example.org."),
        ("{name}", request(name="."), recorded(), "."),
        ("{class}", request(), recorded(), "IN"),
        ("{proto}", request(proto="tcp"), recorded(), "tcp"),
        ("{size}", request(), recorded(), "29"),
        ("{size}", request(edns=0), recorded(), "40"),
        ("{remote}", request(), recorded(), "10.240.0.1"),
        ("{remote}", request(remote="2001:db8::1"), recorded(), "[2001:db8::1]"),
        ("{local}", request(), recorded(), "127.0.0.1"),
        ("{port}", request(), recorded(), "40212"),
        ("{>id}", request(qid=0), recorded(), "0"),
        ("{>id}", request(qid=65535), recorded(), "65535"),
        ("{>opcode}", request(), recorded(), "0"),
        ("{>do}", request(), recorded(), "false"),
        ("{>do}", request(edns=0, dnssec=True), recorded(), "true"),
        ("{>bufsize}", request(), recorded(), "512"),
        ("{>bufsize}", request(edns=0, payload=4096), recorded(), "4096"),
        ("{>bufsize}", request(edns=0, payload=100), recorded(), "512"),
        ("{>bufsize}", request(proto="tcp", edns=0, payload=4096), recorded(), "65535"),
        ("{rcode}", request(), recorded(rcode=3), "NXDOMAIN"),
        ("{rcode}", request(), recorded(rcode=11), "DSOTYPENI"),
        ("{rcode}", request(), recorded(rcode=15), "15"),
        ("{rcode}", request(), recorded(written=False), "-"),
        ("{rsize}", request(), recorded(size=512), "512"),
        ("{rsize}", request(), recorded(size=0, written=False), "0"),
        ("{>rflags}", request(), recorded(flags=0xFFFF), "qr,aa,tc,rd,ra,z,ad,cd"),
        ("{>rflags}", request(), recorded(flags=0x8180), "qr,rd,ra"),
        ("{>rflags}", request(), recorded(flags=0), ""),
        ("{>rflags}", request(), recorded(written=False), "-"),
        ("{/missing}", request(), recorded(), "-"),
    ],
)
def test_placeholder_values(placeholder: str, req: Request, rec: Recorded, value: str) -> None:
    assert parse_format(f"<{placeholder}>").render(req, rec) == f"<{value}>"


def test_percent_signs_are_literal() -> None:
    assert parse_format("100% {name} %s %%").render(request(), recorded()) == "100% example.org. %s %%"


def test_metadata_values_are_strings_or_functions() -> None:
    req = request()
    req.metadata["a/b"] = "static"
    req.metadata["c/d"] = lambda: "computed"
    req.metadata["e/f"] = ""
    line = parse_format("{/a/b} {/c/d} [{/e/f}] {/g/h}").render(req, recorded())
    assert line == "static computed [] -"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (1.0, "1"),
        (0.5, "0.5"),
        (0.000170129, "0.000170129"),
        (0.037990251, "0.037990251"),
        (1.5e-05, "0.000015"),
        (1e-05, "0.00001"),
        (2.5e-07, "0.00000025"),
        (123.456, "123.456"),
        (100.0, "100"),
        (1e21, "1000000000000000000000"),
        (1.5e16, "15000000000000000"),
        (0.1 + 0.2, "0.30000000000000004"),
        (5e-324, "0." + "0" * 323 + "5"),
    ],
)
def test_go_float_is_shortest_and_positional(value: float, text: str) -> None:
    assert go_float(value) == text


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "0s"),
        (1, "0.000000001s"),
        (170129, "0.000170129s"),
        (12_345, "0.000012345s"),
        (1_000_000_000, "1s"),
        (1_500_000_000, "1.5s"),
        (61_000_000_001, "61.000000001s"),
    ],
)
def test_duration_is_go_seconds(nanoseconds: int, text: str) -> None:
    assert seconds_text(nanoseconds) == text


def test_names_of_codes_and_classes() -> None:
    assert [rcode_name(code) for code in (0, 1, 2, 3, 4, 5, 9, 16, 23, 24)] == [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "NOTAUTH",
        "BADSIG", "BADCOOKIE", "24",
    ]
    assert [class_name(c) for c in (1, 2, 3, 4, 254, 255, 42)] == [
        "IN", "CS", "CH", "HS", "NONE", "CLASS255", "CLASS42",
    ]
    assert flags_text(0x8400 | 0x7800 | 0x000F) == "qr,aa"  # opcode and rcode bits ignored
