"""Nothing listens but what the Corefile names (issue 8, "Security posture").

A real ``clusterdns`` process runs the shipped example's plugins with every address on
127.0.0.1; the test then reads the process's own sockets from /proc (its file descriptors'
socket inodes, matched against /proc/<pid>/net/{tcp,tcp6,udp,udp6}) and checks that the only
listening sockets are the DNS listener (UDP and TCP) and the three HTTP servers the Corefile
asks for, all on 127.0.0.1: no wildcard bind, no debug or profiling port.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest

from clusterdns.testing.process import clusterdns_process
from clusterdns.testing.sockets import free_ports, listening_sockets

ROOT: Final = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")


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
