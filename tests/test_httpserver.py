"""The ``ADDRESS`` argument shared by *health*, *ready* and *prometheus* (Go ``net.SplitHostPort``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clusterdns.controller import Controller
from clusterdns.errors import ClusterDNSError
from clusterdns.httpserver import address_argument, split_host_port

DEFAULT = ":8080"


@pytest.mark.parametrize(
    ("line", "address"),
    [
        ("health", DEFAULT),
        ("health :8081", ":8081"),
        ("health localhost:http", "localhost:http"),  # the port is only checked when listening
        ("health [::1]:8081", "[::1]:8081"),
    ],
)
def test_address_argument(controller: Callable[[str, str], Controller], line: str, address: str) -> None:
    c = controller(f". {{\n{line}\n}}\n", "health")
    assert c.dispenser.next()
    assert address_argument(c, DEFAULT) == address


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("health bla", "plugin/health: address bla: missing port in address"),
        ("health ::1", "plugin/health: address ::1: too many colons in address"),
        ("health [::1", "plugin/health: address [::1: missing ']' in address"),
        ("health [::1]x:1", "plugin/health: address [::1]x:1: missing port in address"),
        ("health a[b:1", "plugin/health: address a[b:1: unexpected '[' in address"),
        (
            "health a:1 b:2",
            "Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'b:2'",
        ),
    ],
)
def test_address_argument_errors(controller: Callable[[str, str], Controller], line: str, message: str) -> None:
    c = controller(f". {{\n{line}\n}}\n", "health")
    assert c.dispenser.next()
    with pytest.raises(ClusterDNSError) as caught:
        address_argument(c, DEFAULT)
    assert str(caught.value) == message


def test_split_host_port_keeps_brackets_out_of_the_host() -> None:
    assert split_host_port("[::1]:53") == ("::1", "53")
    assert split_host_port(":9153") == ("", "9153")
