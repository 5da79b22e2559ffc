"""The sockets a process listens on, read from /proc, and free ports, for process tests."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path
from typing import Final

TCP_LISTEN: Final = "0A"
UDP_UNCONNECTED: Final = "07"


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 now, for Corefiles that need fixed ports."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_dns_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host`` now."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


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
