"""``clusterdns resolve``: the queries a pod sends for one name, and what it gets back.

An operator asking "why does ``curl api.example.com`` from an Alpine pod cost ten queries, or
fail?" runs::

    clusterdns resolve api.example.com --namespace shop --libc musl --server 127.0.0.1:5353

It builds the resolv.conf kubelet writes for a ClusterFirst pod in that namespace (or reads one
with ``--resolv-conf``), walks it the way glibc or musl does (``clusterdns.stub``), sending real
queries to the server, and prints every query, every answer, why the resolver went on or
stopped, the result the application sees and the number of queries. Exit status: 0 when the
name resolved, 1 when it did not, 2 for a usage error.

The client is dnslib over asyncio (both runtime dependencies), so the command works from a
plain install: A and AAAA go out together for each candidate, with recursion desired and, as
the libcs do, no EDNS unless resolv.conf says ``options edns0``; a truncated UDP answer is
asked again over TCP, as glibc and musl (1.2.4 and later) do.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import random
import socket
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, TextIO

from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from . import stub

DEFAULT_SERVER: Final = "127.0.0.1:53"
DEFAULT_PORT: Final = 53
#: glibc's RESOLV_EDNS_BUFFER_SIZE, advertised with ``options edns0``.
EDNS_BUFFER_BYTES: Final = 1200
_LENGTH = struct.Struct("!H")


class UsageError(Exception):
    """A command line or input file the command cannot use (exit 2)."""


# --- a small DNS client ------------------------------------------------------------------------


def parse_server(text: str) -> tuple[str, int]:
    """``ADDR:PORT``, ``[V6]:PORT``, ``ADDR`` or a bare IPv6 address (port 53)."""
    host, port = text, DEFAULT_PORT
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"bad server address {text!r}: want ADDR:PORT or [ADDR]:PORT")
        if rest:
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, _, rest = text.partition(":")
        port = _port(rest, text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"bad server address {text!r}: not an IP address") from None
    return host, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"bad server address {whole!r}: bad port {text!r}")
    return int(text)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes | Exception] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.replies.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.replies.put_nowait(exc)


@dataclass(frozen=True)
class DnsClient:
    """Sends one query and returns ``(rcode name, answer records as text)``: ``stub.Ask``."""

    host: str
    port: int
    tcp: bool = False
    timeout_seconds: float = stub.DEFAULT_TIMEOUT_SECONDS
    attempts: int = stub.DEFAULT_ATTEMPTS
    edns: bool = False

    async def __call__(self, qname: str, qtype: str) -> tuple[str, list[str]]:
        query = DNSRecord.question(qname, qtype)
        query.header.id = random.randrange(1 << 16)
        if self.edns:
            query.add_ar(EDNS0(udp_len=EDNS_BUFFER_BYTES))
        wire = query.pack()
        reply = await (self._tcp(query, wire) if self.tcp else self._udp(query, wire))
        if reply.header.tc and not self.tcp:
            reply = await self._tcp(query, wire)
        records = [f"{rr.rname} {rr.ttl} IN {QTYPE.get(rr.rtype)} {rr.rdata}" for rr in reply.rr]
        return str(RCODE.get(reply.header.rcode)), records

    def _matches(self, query: DNSRecord, data: bytes) -> DNSRecord | None:
        try:
            reply = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - garbage on the socket is ignored, like a libc does
            return None
        if reply.header.id != query.header.id or not reply.header.qr or not reply.questions:
            return None
        asked, got = query.q, reply.q
        if str(got.qname).lower() != str(asked.qname).lower() or got.qtype != asked.qtype:
            return None
        return reply

    async def _udp(self, query: DNSRecord, wire: bytes) -> DNSRecord:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        transport, protocol = await loop.create_datagram_endpoint(
            _Datagrams, remote_addr=(self.host, self.port), family=family
        )
        try:
            for _ in range(max(1, self.attempts)):
                transport.sendto(wire)
                deadline = loop.time() + self.timeout_seconds
                while (remaining := deadline - loop.time()) > 0:
                    try:
                        item = await asyncio.wait_for(protocol.replies.get(), remaining)
                    except TimeoutError:
                        break
                    if isinstance(item, ConnectionRefusedError):
                        raise item
                    if isinstance(item, Exception):
                        continue
                    if (reply := self._matches(query, item)) is not None:
                        return reply
            raise TimeoutError(f"no reply from {self.host}:{self.port}")
        finally:
            transport.close()

    async def _tcp(self, query: DNSRecord, wire: bytes) -> DNSRecord:
        for _ in range(max(1, self.attempts)):
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    try:
                        writer.write(_LENGTH.pack(len(wire)) + wire)
                        await writer.drain()
                        while True:
                            length = _LENGTH.unpack(await reader.readexactly(2))[0]
                            data = await reader.readexactly(length)
                            if (reply := self._matches(query, data)) is not None:
                                return reply
                    finally:
                        writer.close()
            except TimeoutError:
                continue
            except asyncio.IncompleteReadError:
                continue
        raise TimeoutError(f"no reply from {self.host}:{self.port} over TCP")


# --- the command -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterdns resolve",
        description=(
            "Show the queries a pod's stub resolver sends for NAME, each answer, the result "
            "and the query count. Exit 0 if NAME resolved, 1 if not, 2 on a usage error."
        ),
    )
    parser.add_argument("name", metavar="NAME", help="the name the application looks up")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--namespace", "-n", metavar="NS",
        help="the pod's namespace: use the resolv.conf kubelet writes for a ClusterFirst pod",
    )  # fmt: skip
    source.add_argument(
        "--resolv-conf", metavar="FILE", help="read search, ndots and nameservers from FILE"
    )
    parser.add_argument(
        "--search", metavar="DOMAIN", nargs="+", action="extend",
        help="replace the search list (space or comma separated)",
    )  # fmt: skip
    parser.add_argument("--ndots", type=int, metavar="N", help="replace ndots")
    parser.add_argument(
        "--libc", choices=stub.LIBCS, default="glibc", help="whose walk to play (default glibc)"
    )
    parser.add_argument(
        "--server", metavar="ADDR:PORT",
        help=f"where to send the queries (default: the first nameserver of --resolv-conf, "
        f"else {DEFAULT_SERVER})",
    )  # fmt: skip
    parser.add_argument(
        "--zone", default="cluster.local", help="the cluster domain (default cluster.local)"
    )
    parser.add_argument(
        "--node-search", metavar="DOMAIN", nargs="+", action="extend",
        help="the node's search domains, appended after the cluster ones (e.g. ec2.internal)",
    )  # fmt: skip
    parser.add_argument("--tcp", action="store_true", help="send the queries over TCP")
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS",
        help="wait this long for each reply (default: resolv.conf's timeout, 5)",
    )  # fmt: skip
    return parser


def _domains(values: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(d for value in values or () for d in value.replace(",", " ").split())


@dataclass(frozen=True)
class Plan:
    """Everything the command needs, from the arguments."""

    name: str
    libc: stub.Libc
    conf: stub.ResolvConf
    client: DnsClient
    namespace: str | None
    source: str  # where the resolv.conf came from, for the header


def plan_from_args(argv: Sequence[str]) -> Plan:
    """Parse the arguments; raise ``UsageError`` (or SystemExit 2 from argparse)."""
    args = _parser().parse_args(list(argv))
    if args.ndots is not None and not 0 <= args.ndots:
        raise UsageError(f"--ndots must be 0 or more, not {args.ndots}")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be positive, not {args.timeout}")
    if args.resolv_conf is not None:
        if args.node_search:
            raise UsageError("--node-search goes with --namespace; put it in the file's search")
        try:
            with open(args.resolv_conf, encoding="utf-8") as file:
                conf = stub.parse_resolv_conf(file.read())
        except OSError as exc:
            raise UsageError(f"{args.resolv_conf}: {exc.strerror or exc}") from None
        source = args.resolv_conf
    else:
        conf = stub.pod_resolv_conf(args.namespace, args.zone, _domains(args.node_search))
        source = f"ClusterFirst pod in namespace {args.namespace}"
    if args.search is not None:
        conf = replace(conf, search=_domains(args.search))
    if args.ndots is not None:
        conf = replace(conf, ndots=min(args.ndots, stub.MAX_NDOTS))
    server = args.server
    if server is None:
        server = conf.nameservers[0] if args.resolv_conf and conf.nameservers else DEFAULT_SERVER
    host, port = parse_server(server)
    client = DnsClient(
        host, port, tcp=args.tcp,
        timeout_seconds=args.timeout if args.timeout is not None else conf.timeout,
        attempts=conf.attempts, edns="edns0" in conf.options,
    )  # fmt: skip
    return Plan(args.name, args.libc, conf, client, args.namespace, source)


def _order(name: str, conf: stub.ResolvConf, libc: stub.Libc) -> str:
    """Which order the resolver uses for this name, and why."""
    dots = name.count(".")
    counted = f"{dots} dot{'' if dots == 1 else 's'}"
    if name.endswith("."):
        return "trailing dot: the name as is only"
    if not conf.search:
        return "no search list: the name as is only"
    if dots >= conf.ndots:
        if libc == "musl":
            return f"{counted} >= {conf.ndots}: the name as is only, musl never searches it"
        return f"{counted} >= {conf.ndots}: the name as is first, then the search list"
    return f"{counted} < {conf.ndots}: the search list first, then the name as is"


def _answer_lines(query: stub.Query) -> list[str]:
    if not query.replied:
        return ["(no reply)" if query.rcode == stub.TIMEOUT else "(port unreachable)"]
    if query.nodata:
        return ["(no records: NODATA)"]
    lines = []
    for text in query.answers:
        owner, rtype, rdata = stub.parse_record(text)
        prefix = "" if owner == query.qname.lower() else f"{owner} "
        lines.append(f"{prefix}{rtype} {rdata}")
    return lines or [""]


def render(plan: Plan, walk: stub.Walk) -> str:
    """The report, as printed."""
    conf = plan.conf
    transport = "tcp" if plan.client.tcp else "udp"
    host = f"[{plan.client.host}]" if ":" in plan.client.host else plan.client.host
    out = [
        f"resolve {plan.name} as {plan.libc} getaddrinfo() would ({plan.source})",
        f"  search  {' '.join(conf.search) if conf.search else '(none)'}",
        f"  ndots   {conf.ndots}  ({_order(plan.name, conf, plan.libc)})",
        f"  server  {host}:{plan.client.port} ({transport})",
        "",
    ]
    queries = walk.queries
    number_width = max(2, len(str(len(queries))))
    name_width = max([len("QUERY"), *(len(q.qname) for q in queries)])
    rcode_width = max([len("RCODE"), *(len(q.rcode) for q in queries)])
    indent = " " * (number_width + 2)
    out.append(
        f"{'#':>{number_width}}  {'QUERY':<{name_width}}  TYPE  {'RCODE':<{rcode_width}}  ANSWER"
    )
    number = 0
    for step in walk.steps:
        for query in step.queries:
            number += 1
            answers = _answer_lines(query)
            head = (
                f"{number:>{number_width}}  {query.qname:<{name_width}}  "
                f"{query.qtype:<4}  {query.rcode:<{rcode_width}}"
            )
            out.append(f"{head}  {answers[0]}".rstrip())
            pad = " " * len(head)
            out += [f"{pad}  {line}" for line in answers[1:]]
        if not step.queries:
            out.append(f"{indent}{step.candidate}")
        out.append(f"{indent}-> {step.decision}")
    if not walk.steps:
        out.append(
            f"{indent}(no query: {'an IP address' if walk.result.ok else 'not a valid name'})"
        )
    out.append("")
    result = walk.result
    if result.ok:
        out.append(f"  result   {' '.join(result.addresses)}  (from {result.canonical})")
    else:
        why = f"  ({result.reason})" if result.reason else ""
        out.append(f"  result   {result.error}: {result.message}{why}")
    before = walk.count - len(walk.steps[-1].queries) if result.ok else 0
    note = f"  ({before} of them before the candidate that answered)" if before else ""
    out.append(f"  queries  {walk.count}{note}")
    return "\n".join(out) + "\n"


async def run(plan: Plan) -> stub.Walk:
    """Walk ``plan.name`` against the server."""
    return await stub.walk(plan.name, plan.conf, plan.libc, plan.client)


def main(argv: Sequence[str], stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """``clusterdns resolve ARGS``: print the walk; 0 resolved, 1 not, 2 usage error."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        plan = plan_from_args(argv)
    except SystemExit as exc:  # argparse already printed the usage and the error
        return int(exc.code) if isinstance(exc.code, int) else 2
    except UsageError as exc:
        print(f"clusterdns resolve: error: {exc}", file=stderr)
        return 2
    try:
        walk = asyncio.run(run(plan))
    except OSError as exc:  # e.g. no route to the server: nothing resolved
        print(f"clusterdns resolve: error: {exc}", file=stderr)
        return 1
    stdout.write(render(plan, walk))
    return 0 if walk.result.ok else 1


__all__ = ["DnsClient", "Plan", "UsageError", "main", "parse_server", "plan_from_args", "render"]
