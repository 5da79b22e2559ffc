"""Nothing listens but what the Corefile names (issue 8, "Security posture").

A real ``clusterdns`` process runs the shipped example's plugins with every address on
127.0.0.1; the test then reads the process's own sockets from /proc (its file descriptors'
socket inodes, matched against /proc/<pid>/net/{tcp,tcp6,udp,udp6}) and checks that the only
listening sockets are the DNS listener (UDP and TCP) and the three HTTP servers the Corefile
asks for, all on 127.0.0.1: no wildcard bind, no debug or profiling port.
"""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path
from typing import Final

import pytest

from clusterdns.testing.process import clusterdns_process

ROOT: Final = Path(__file__).resolve().parents[2]
TCP_LISTEN: Final = "0A"
UDP_UNCONNECTED: Final = "07"

pytestmark = pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")


def free_ports(n: int) -> list[int]:
    """Ports free on 127.0.0.1 now (three ``:0`` HTTP addresses would share one server)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def corefile(health: int, ready: int, metrics: int) -> str:
    return (
        ".:0 {\n"
        "    bind 127.0.0.1\n"
        "    errors\n"
        f"    health 127.0.0.1:{health} {{\n"
        "        lameduck 1s\n"
        "    }\n"
        f"    ready 127.0.0.1:{ready}\n"
        "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
        f"        manifests {ROOT / 'examples' / 'cluster'}\n"
        "        pods insecure\n"
        "        fallthrough in-addr.arpa ip6.arpa\n"
        "    }\n"
        f"    hosts {ROOT / 'examples' / 'hosts'} example.com {{\n"
        "        fallthrough\n"
        "    }\n"
        f"    prometheus 127.0.0.1:{metrics}\n"
        "    cache 30\n"
        "    reload\n"
        "    loadbalance\n"
        "}\n"
    )


def _address(hex_address: str) -> tuple[str, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:  # four host-order 32-bit words
        ip = socket.inet_ntop(socket.AF_INET6, b"".join(struct.pack("<I", w) for w in struct.unpack(">4I", raw)))
    return ip, int(port, 16)


def listening_sockets(pid: int) -> set[tuple[str, str, int]]:
    """(protocol, address, port) of every listening TCP and bound unconnected UDP socket."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table, wanted_state in (("tcp", TCP_LISTEN), ("tcp6", TCP_LISTEN), ("udp", UDP_UNCONNECTED), ("udp6", UDP_UNCONNECTED)):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode in inodes and state == wanted_state:
                ip, port = _address(local)
                found.add((table.rstrip("6"), ip, port))
    return found


async def test_only_the_corefiles_listeners_are_open_and_only_where_it_says(tmp_path: Path) -> None:
    path = tmp_path / "Corefile"
    http_ports = free_ports(3)
    path.write_text(corefile(*http_ports))
    async with clusterdns_process("-conf", str(path)) as server:
        await server.wait_started()
        dns_port = server.port
        sockets = listening_sockets(server.process.pid)
    assert ("udp", "127.0.0.1", dns_port) in sockets
    assert ("tcp", "127.0.0.1", dns_port) in sockets
    http = {("tcp", "127.0.0.1", port) for port in http_ports}  # health, ready, prometheus
    assert sockets == {("udp", "127.0.0.1", dns_port), ("tcp", "127.0.0.1", dns_port)} | http
