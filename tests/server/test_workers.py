"""``-workers N`` (clusterdns/workers.py): N real processes sharing one DNS port.

The first process starts the others; each binds the port with SO_REUSEPORT and answers; only
the first serves HTTP; SIGTERM to the first stops them all with exit 0; a worker whose first
process dies stops by itself; bad values are usage errors.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import pytest

from clusterdns.cli import main
from clusterdns.testing import query
from clusterdns.testing.process import clusterdns_process
from clusterdns.testing.sockets import free_ports, listening_sockets

pytestmark = pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry))
    return found


async def wait_until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def corefile(dns_port: int, health_port: int) -> str:
    return (
        f".:{dns_port} {{\n"
        "    bind 127.0.0.1\n"
        f"    health 127.0.0.1:{health_port}\n"
        "    whoami\n"
        "}\n"
    )


async def test_workers_share_the_port_answer_and_stop_together(tmp_path: Path) -> None:
    dns_port, health_port = free_ports(2)
    path = tmp_path / "Corefile"
    path.write_text(corefile(dns_port, health_port))
    async with clusterdns_process("-conf", str(path), "-workers", "3") as server:
        await server.wait_started()
        pid = server.process.pid
        await wait_until(lambda: len(children(pid)) == 2)
        workers = children(pid)
        for worker in workers:  # each extra worker has the DNS sockets, and no HTTP server
            await wait_until(lambda w=worker: ("udp", "127.0.0.1", dns_port) in listening_sockets(w))
            sockets = listening_sockets(worker)
            assert ("tcp", "127.0.0.1", dns_port) in sockets
            assert ("tcp", "127.0.0.1", health_port) not in sockets
        assert ("tcp", "127.0.0.1", health_port) in listening_sockets(pid)
        for _ in range(30):  # from as many source ports: all answered, whoever answers
            reply = await query(dns_port, "example.org", "A")
            assert reply.rcode() == 0 and reply.additional
        server.signal(signal.SIGTERM)
        code = await server.wait(35.0)
        assert code == 0, "\n".join(server.lines)
        await wait_until(lambda: not any(Path(f"/proc/{w}").exists() and _alive(w) for w in workers))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_a_worker_whose_first_process_died_stops_by_itself(tmp_path: Path) -> None:
    dns_port, health_port = free_ports(2)
    path = tmp_path / "Corefile"
    path.write_text(corefile(dns_port, health_port))
    async with clusterdns_process("-conf", str(path), "-workers", "2") as server:
        await server.wait_started()
        await wait_until(lambda: len(children(server.process.pid)) == 1)
        (worker,) = children(server.process.pid)
        server.process.kill()
        await server.process.wait()
        await wait_until(lambda: not _alive(worker), timeout=10.0)


@pytest.mark.parametrize("value", ["0", "-1", "two", ""])
def test_a_bad_worker_count_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-workers", value]) == 2
    assert f'invalid value "{value}" for flag -workers: parse error' in capsys.readouterr().err
