"""loop in a real clusterdns process: a Corefile forwarding to itself exits 1 with the FATAL line.

This is CoreDNS's README example, on a free loopback port: the probe goes out, forward sends it
back to the same port, the third arrival is fatal and the process leaves with exit code 1.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from clusterdns import registry
from clusterdns.testing.process import clusterdns_process

pytestmark = pytest.mark.skipif(
    "forward" not in registry.names(), reason="the forward plugin is not registered yet"
)


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (the server binds it right after)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise OSError("no free port")


async def test_forwarding_to_itself_is_fatal_and_exits_1(tmp_path: Path) -> None:
    port = free_port()
    corefile = tmp_path / "Corefile"
    corefile.write_text(f".:{port} {{\n    bind 127.0.0.1\n    loop\n    forward . 127.0.0.1:{port}\n}}\n")
    async with clusterdns_process("-conf", str(corefile)) as server:
        line = await server.wait_for_line(r"^\[FATAL\] plugin/loop: ", timeout=20)
        assert await server.wait(timeout=10) == 1
    assert re.fullmatch(
        rf'\[FATAL\] plugin/loop: Loop \(127\.0\.0\.1:\d+ -> 127\.0\.0\.1:{port}\) detected for '
        r'zone "\.", see https://coredns\.io/plugins/loop#troubleshooting\. '
        r'Query: "HINFO \d+\.\d+\."',
        line,
    ), line


def port_53_free() -> bool:
    """Whether 127.0.0.1:53 can be bound here (root, and no local resolver on it)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 53))
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                tcp.bind(("127.0.0.1", 53))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not port_53_free(), reason="127.0.0.1:53 cannot be bound here")
async def test_a_loop_through_a_resolv_conf_loopback_nameserver_names_it(tmp_path: Path) -> None:
    """The cluster case end to end: resolv.conf has no port, so this needs port 53."""
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("nameserver 127.0.0.1\n")
    corefile = tmp_path / "Corefile"
    corefile.write_text(f".:53 {{\n    bind 127.0.0.1\n    loop\n    forward . {resolv_conf}\n}}\n")
    async with clusterdns_process("-conf", str(corefile)) as server:
        line = await server.wait_for_line(r"^\[FATAL\] plugin/loop: ", timeout=20)
        assert await server.wait(timeout=10) == 1
    assert line.endswith(
        f'Query: "HINFO {line.split("HINFO ")[1].split(chr(34))[0]}" (the upstream 127.0.0.1 '
        f"comes from {resolv_conf}: a loopback resolver such as systemd-resolved's; point "
        "forward at the real upstream, e.g. /run/systemd/resolve/resolv.conf, or give the DNS "
        "pod a resolv.conf without loopback nameservers)"
    )
