"""Shared fixtures of the kubernetes tests: in-memory clusters, a real Mux, and case checks.

The clusters are CoreDNS's test worlds (``handler_test.go`` ``svcIndex``/``epsIndex``,
``reverse_test.go``, ``ns_test.go``) written as slim objects in a ``ClusterIndex`` whose clock
is fixed, so the SOA serial is known. Queries go through a real ``Mux`` (zone dispatch, the
reply writer, re-entry for ExternalName targets) without sockets, and replies are read with
dnspython, which shares no code with the server's dnslib.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
from dnslib import RR, A, DNSLabel

from clusterdns import wire
from clusterdns.corefile.address import ZoneAddress, parse_key
from clusterdns.corefile.dispenser import Dispenser
from clusterdns.corefile.parser import parse as parse_corefile
from clusterdns.controller import Controller
from clusterdns.errors import CorefileError, PluginSetupError
from clusterdns.kube.index import INACTIVE_POD_PHASES, ClusterIndex
from clusterdns.kube.objects import (
    Endpoint,
    EndpointSlice,
    Namespace,
    Pod,
    Port,
    Service,
    endpoint_slice_from_json,
    namespace_from_json,
    pod_from_json,
    service_from_json,
)
from clusterdns.plugin import Handler, ResponseWriter
from clusterdns.plugins.kubernetes.kubernetes import Kubernetes
from clusterdns.plugins.kubernetes.options import KubernetesOptions
from clusterdns.plugins.kubernetes.setup import parse
from clusterdns.request import Request
from clusterdns.server.config import BlockConfig, ListenAddress
from clusterdns.server.mux import Mux
from clusterdns.testing import Case, RunningServer, fakeapi, query, rr, run_corefile
from clusterdns.testing.fakeapi import FakeAPIServer

#: The SOA serial of every test world (CoreDNS's tests use 1499347823 in their SOAs).
SERIAL = 1499347823


def soa(zone: str = "cluster.local.", ttl: int = 5, minimum: int | None = None) -> str:
    """The plugin's SOA for ``zone`` (in the case given), as zone-file text."""
    minimum = ttl if minimum is None else minimum
    return (
        f"{zone} {min(ttl, 300)} IN SOA ns.dns.{zone} hostmaster.{zone} "
        f"{SERIAL} 7200 1800 86400 {minimum}"
    )


# --- objects ---------------------------------------------------------------------------------


def http(port: int = 80) -> Port:
    return Port(name="http", port=port, protocol="TCP")


def service(
    namespace: str,
    name: str,
    cluster_ips: Iterable[str] = (),
    *,
    ports: Iterable[Port] = (),
    headless: bool = False,
    external_name: str = "",
    kind: str = "ClusterIP",
) -> Service:
    return Service(
        namespace=namespace,
        name=name,
        type="ExternalName" if external_name else kind,
        cluster_ips=tuple(cluster_ips),
        headless=headless,
        external_name=external_name,
        ports=tuple(ports),
    )


def endpoint(ip: str, *, hostname: str = "", ready: bool = True, pod: str = "") -> Endpoint:
    return Endpoint(addresses=(ip,), ready=ready, hostname=hostname, target_pod=pod)


def endpoint_slice(
    namespace: str,
    service_name: str,
    name: str,
    endpoints: Iterable[Endpoint],
    *,
    ports: Iterable[Port] = (),
    address_type: str = "IPv4",
) -> EndpointSlice:
    return EndpointSlice(
        namespace=namespace,
        name=name,
        service_name=service_name,
        address_type=address_type,
        endpoints=tuple(endpoints),
        ports=tuple(ports),
    )


def index_of(
    services: Iterable[Service] = (),
    slices: Iterable[EndpointSlice] = (),
    namespaces: Iterable[str | Namespace] = (),
    pods: Iterable[Pod] = (),
) -> ClusterIndex:
    index = ClusterIndex(clock=lambda: float(SERIAL))
    for ns in namespaces:
        index.upsert_namespace(ns if isinstance(ns, Namespace) else Namespace(ns))
    for svc in services:
        index.upsert_service(svc)
    for sl in slices:
        index.upsert_slice(sl)
    for pod in pods:
        index.upsert_pod(pod)
    return index


def handler_world() -> ClusterIndex:
    """CoreDNS ``handler_test.go``: ``svcIndex``, ``epsIndex``, the pod ``podns/foo`` and the
    namespaces ``GetNamespaceByName`` finds (every one but ``pod-nons`` and ``nsnoexist``).
    hdls1's mixed slice is split by family, as the API requires."""
    services = [
        service("kube-system", "kubedns", ["10.0.0.10"], ports=[Port("dns", 53, "UDP")]),
        service("testns", "svc1", ["10.0.0.1"], ports=[http()]),
        service("testns", "svcempty", ["10.0.0.1"], ports=[http()]),
        service("testns", "svc6", ["1234:abcd::1"], ports=[http()]),
        service("testns", "hdls1", headless=True),
        service("testns", "external", ports=[http()], external_name="ext.interwebs.test"),
        service(
            "testns", "external-to-service", ports=[http()],
            external_name="svc1.testns.svc.cluster.local.",
        ),
        service("testns", "hdlsprtls", headless=True),
        service("unexposedns", "svc1", ["10.0.0.2"], ports=[http()]),
        service("testns", "svc-dual-stack", ["10.0.0.3", "10::3"], ports=[http()]),
    ]  # fmt: skip
    slices = [
        endpoint_slice(
            "kube-system", "kubedns", "kubedns", [endpoint("172.0.0.100")],
            ports=[Port("dns", 53, "UDP")],
        ),
        endpoint_slice(
            "testns", "svc1", "svc1-slice1", [endpoint("172.0.0.1", hostname="ep1a")], ports=[http()]
        ),
        endpoint_slice("testns", "svcempty", "svcempty-slice1", [], ports=[http()]),
        endpoint_slice(
            "testns", "hdls1", "hdls1-slice1",
            [
                endpoint("172.0.0.2"),
                endpoint("172.0.0.3"),
                endpoint("172.0.0.4", hostname="dup-name"),
                endpoint("172.0.0.5", hostname="dup-name"),
            ],
            ports=[http()],
        ),
        endpoint_slice(
            "testns", "hdls1", "hdls1-slice2",
            [endpoint("5678:abcd::1"), endpoint("5678:abcd::2")],
            ports=[http()], address_type="IPv6",
        ),
        endpoint_slice("testns", "hdlsprtls", "hdlsprtls-slice1", [endpoint("172.0.0.20")]),
    ]  # fmt: skip
    namespaces = ["testns", "kube-system", "unexposedns", "podns", "svcns", "svc-nons"]
    pods = [Pod(namespace="podns", name="foo", ip="10.240.0.1")]
    return index_of(services, slices, namespaces, pods)


# --- a handler behind a real Mux ---------------------------------------------------------------


class Stub(Handler):
    """A stand-in for another server block (forward, hosts): fixed answers per (name, type)."""

    name = "stub"

    def __init__(
        self, answers: dict[tuple[str, str], list[str]] | None = None, *, truncated: bool = False
    ) -> None:
        super().__init__(None)
        self.answers = answers or {}
        self.truncated = truncated
        self.asked: list[tuple[str, int]] = []

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        self.asked.append((req.qname, req.qtype))
        reply = req.reply(authoritative=False)
        reply.header.ra = 1
        if self.truncated:
            reply.header.tc = 1
        for text in self.answers.get((req.name, req.type_name), []):
            reply.add_answer(*RR.fromZone(text))
        w.write_msg(reply)
        return wire.NOERROR


class Terminal(Handler):
    """The plugin after kubernetes in a chain: answers A 192.0.2.53 to show it was reached."""

    name = "terminal"

    def __init__(self) -> None:
        super().__init__(None)
        self.seen: list[str] = []

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        self.seen.append(req.name)
        reply = req.reply(authoritative=False)
        reply.add_answer(RR(DNSLabel(req.qname), 1, 1, 1, A("192.0.2.53")))
        w.write_msg(reply)
        return wire.NOERROR


@dataclass
class Server:
    """A Mux with the kubernetes block and optional other blocks."""

    mux: Mux
    handler: Kubernetes
    terminal: Terminal
    state: dict[str, object] = field(default_factory=dict)

    # TCP by default: the answers under test are the plugin's, not the UDP truncation's
    async def ask(
        self,
        qname: str,
        qtype: str = "A",
        *,
        proto: str = "tcp",
        remote: tuple[str, int] = ("10.0.0.9", 5353),
        use_edns: bool = False,
    ) -> dns.message.Message:
        query = dns.message.make_query(qname, qtype, use_edns=use_edns)
        sent: list[bytes] = []
        await self.mux.serve(query.to_wire(), proto, remote, ("10.0.0.1", 53), sent.append)
        assert len(sent) == 1, sent
        return dns.message.from_wire(sent[0])


def make_server(
    index: ClusterIndex,
    options: KubernetesOptions | None = None,
    *,
    synced: bool | Callable[[], bool] = True,
    local_ips: list[str] | None = None,
    others: dict[str, Handler] | None = None,
) -> Server:
    """The kubernetes handler (next: a ``Terminal``) on a Mux serving the options' zones, and
    ``others`` (zone -> handler) as further blocks."""
    options = options or KubernetesOptions()
    terminal = Terminal()
    local = ["10.0.0.53"] if local_ips is None else local_ips
    handler = Kubernetes(
        terminal,
        options=options,
        index=index,
        synced=synced if callable(synced) else (lambda: synced),
        local_ips=lambda: local,
    )
    config = BlockConfig(index=0, zones=[ZoneAddress("dns", z, "53") for z in options.zones])
    config.chain = handler
    zones = {z: config for z in options.zones}
    for position, (zone, other) in enumerate((others or {}).items(), start=1):
        other_config = BlockConfig(index=position, zones=[ZoneAddress("dns", zone, "53")])
        other_config.chain = other
        zones[zone] = other_config
    mux = Mux(ListenAddress("dns", "", 53), zones)
    return Server(mux, handler, terminal)


# --- parsing ---------------------------------------------------------------------------------


def parse_block(text: str, keys: str = "cluster.local") -> KubernetesOptions:
    """Parse the kubernetes directive of ``keys { text }`` as a server build would, errors
    worded as the server reports them (``plugin/kubernetes: ...``)."""
    corefile = f"{keys} {{\n{text}\n}}\n"
    blocks = parse_corefile(corefile, "Corefile", known_directives={"kubernetes"})
    zones = [zone for key in keys.split() for zone in parse_key(key, "53")]
    config = BlockConfig(index=0, zones=zones)
    dispenser = Dispenser(blocks[0].tokens("kubernetes"), file="Corefile")
    controller = Controller(directive="kubernetes", dispenser=dispenser, config=config, instance=None)  # type: ignore[arg-type]
    try:
        return parse(controller)
    except CorefileError as exc:  # as clusterdns.server.instance.build wraps it
        raise PluginSetupError("kubernetes", str(exc)) from exc


# --- checks ----------------------------------------------------------------------------------


def exact_lines(section: list) -> list[str]:  # type: ignore[type-arg]
    """Records as text, case kept, sorted."""
    return sorted(line for rrset in section for line in rrset.to_text().splitlines())


def check_exact(reply: dns.message.Message, case: Case) -> None:
    """Like ``clusterdns.testing.check`` but case-sensitive (owner names, targets)."""
    assert dns.rcode.to_text(reply.rcode()) == case.rcode, reply.to_text()
    assert exact_lines(reply.answer) == exact_lines([rr(t) for t in case.answer]), reply.to_text()
    assert exact_lines(reply.authority) == exact_lines([rr(t) for t in case.ns]), reply.to_text()
    extra = [r for r in reply.additional if r.rdtype != dns.rdatatype.OPT]
    assert exact_lines(extra) == exact_lines([rr(t) for t in case.extra]), reply.to_text()


def check_flags(reply: dns.message.Message) -> None:
    """Every kubernetes answer: AA set, RA clear."""
    assert reply.flags & dns.flags.AA, reply.to_text()
    assert not reply.flags & dns.flags.RA, reply.to_text()



# --- the same worlds served from a fake API server over HTTP ----------------------------------
#
# The in-memory worlds above are converted to the JSON a real API server returns (with
# clusterdns.testing.fakeapi's builders), loaded into a FakeAPIServer, and served by a real
# clusterdns started from a Corefile whose kubernetes stanza points ``endpoint`` at it: the
# plugin's informers list and watch over HTTP, and queries go over UDP and TCP sockets.

Json = dict[str, Any]

#: How long a test waits for a change made through the API to be answered.
FOLLOW_SECONDS = 1.0
#: How long a test waits for the informers to recover from an outage (their real backoff:
#: 0.8 s doubling, full jitter, so a few seconds in the worst case).
RECOVER_SECONDS = 15.0
#: Where ``ready`` listens in these tests.
READY_ADDRESS = "127.0.0.1:0"


def api_objects(index: ClusterIndex, *, addresses: dict[str, str] | None = None) -> list[Json]:
    """Every object of ``index`` as the API server returns it (namespaces, services, slices,
    pods), so that the informers rebuild exactly ``index``. ``addresses`` renames IPs (a world's
    "local IP" mapped to the loopback address the test server binds)."""
    rename = addresses or {}

    def ip(value: str) -> str:
        return rename.get(value, value)

    objects: list[Json] = []
    for ns in sorted(index.namespaces.values(), key=lambda n: n.name):
        obj = fakeapi.namespace(ns.name)
        obj["metadata"]["labels"] = dict(ns.labels)  # exactly the world's labels
        objects.append(obj)
    for svc in sorted(index.services.values(), key=lambda s: s.key):
        ports = [(p.name, p.port, p.protocol) for p in svc.ports]
        if svc.external_name:
            obj = fakeapi.service(svc.namespace, svc.name, ports=ports, external_name=svc.external_name)
        elif svc.headless:
            obj = fakeapi.service(svc.namespace, svc.name, None, ports, type=svc.type)
        else:
            ips = [ip(a) for a in svc.cluster_ips]
            obj = fakeapi.service(
                svc.namespace, svc.name, ips[0] if ips else "", ports,
                cluster_ips=ips or None, type=svc.type, external_ips=list(svc.external_ips),
            )  # fmt: skip
        objects.append(obj)
    for sl in sorted(index.slices.values(), key=lambda s: s.key):
        endpoints = []
        for e in sl.endpoints:
            raw: Json = {"addresses": [ip(a) for a in e.addresses], "conditions": {"ready": e.ready}}
            if e.hostname:
                raw["hostname"] = e.hostname
            if e.target_pod:
                raw["targetRef"] = {"kind": "Pod", "namespace": sl.namespace, "name": e.target_pod}
            if e.node_name:
                raw["nodeName"] = e.node_name
            endpoints.append(raw)
        trigger = None
        if sl.trigger_time is not None:
            trigger = datetime.datetime.fromtimestamp(sl.trigger_time, datetime.UTC).isoformat().replace("+00:00", "Z")
        objects.append(
            fakeapi.endpoint_slice(
                sl.namespace, sl.name, sl.service_name,
                ports=[(p.name, p.port, p.protocol) for p in sl.ports],
                endpoints=endpoints, address_type=sl.address_type, trigger_time=trigger,
            )
        )  # fmt: skip
    for pod in sorted(index.pods.values(), key=lambda p: p.key):
        objects.append(fakeapi.pod(pod.namespace, pod.name, ip(pod.ip) or None, pod.phase, deleting=pod.deleting))
    return objects


def index_contents(index: ClusterIndex, *, pods: bool = False) -> dict[str, dict[Any, Any]]:
    """What an index holds, by kind and key (for comparing with the API server's state)."""
    contents: dict[str, dict[Any, Any]] = {
        "services": dict(index.services),
        "slices": dict(index.slices),
        "namespaces": dict(index.namespaces),
    }
    if pods:
        contents["pods"] = dict(index.pods)
    return contents


def api_contents(api: FakeAPIServer, *, pods: bool = False) -> dict[str, dict[Any, Any]]:
    """The fake API server's objects, parsed as the informers parse them, by kind and key."""
    contents: dict[str, dict[Any, Any]] = {
        "services": {s.key: s for s in map(service_from_json, api.objects("services"))},
        "slices": {s.key: s for s in map(endpoint_slice_from_json, api.objects("endpointslices"))},
        "namespaces": {n.name: n for n in map(namespace_from_json, api.objects("namespaces"))},
    }
    if pods:
        parsed = (pod_from_json(p) for p in api.objects("pods"))
        contents["pods"] = {p.key: p for p in parsed if p.phase not in INACTIVE_POD_PHASES}
    return contents


def api_corefile(
    url: str,
    stanza: str = "",
    *,
    zones: Iterable[str] = ("cluster.local", "in-addr.arpa", "ip6.arpa"),
    hosts: Iterable[str] = ("127.0.0.1",),
    others: dict[str, list[str]] | None = None,
    ready: bool = False,
) -> str:
    """A Corefile serving ``zones`` with kubernetes reading the API at ``url`` (no credentials),
    listening on the loopback addresses ``hosts``; ``others`` are further blocks on the same
    listeners answering from inline hosts entries (zone -> hosts lines, e.g. ``ttl 300``), where
    ExternalName targets outside the cluster zone are resolved."""
    names = [z.rstrip(".") for z in zones]
    bind = " ".join(hosts)
    lines = [f"{' '.join(names)} {{", f"    bind {bind}"]
    if ready:
        lines.append(f"    ready {READY_ADDRESS}")
    lines += [f"    kubernetes {' '.join(names)} {{", f"        endpoint {url}"]
    lines += [f"        {line}" for line in stanza.splitlines() if line.strip()]
    lines += ["    }", "}"]
    for zone, entries in (others or {}).items():
        lines += [f"{zone.rstrip('.')} {{", f"    bind {bind}", "    hosts /dev/null {"]
        lines += [f"        {entry}" for entry in entries]
        lines += ["        no_reverse", "    }", "}"]
    return "\n".join(lines) + "\n"


@dataclass
class ApiServed:
    """A fake API server and the real clusterdns reading it."""

    api: FakeAPIServer
    srv: RunningServer
    host: str

    @property
    def handler(self) -> Kubernetes:
        assert self.srv.runtime.instance is not None
        (found,) = self.srv.runtime.instance.handlers("kubernetes")
        assert isinstance(found, Kubernetes)
        return found

    @property
    def index(self) -> ClusterIndex:
        return self.handler.index

    @property
    def controller(self) -> Any:
        """The plugin's data-source controller (whose ``synced`` the handler reports)."""
        return self.handler.synced.__self__  # type: ignore[attr-defined]

    @property
    def informers(self) -> list[Any]:
        return list(self.controller.source.informers)

    @property
    def port(self) -> int:
        runtime = self.srv.runtime
        return next(listener.port for address, listener in runtime.listeners.items() if address.host == self.host)

    @property
    def ready_port(self) -> int:
        return self.srv.runtime.http.port(READY_ADDRESS)

    async def ask(self, qname: str, qtype: str = "A", *, tcp: bool = True) -> dns.message.Message:
        """One query over a real socket: TCP without EDNS, or UDP with EDNS (1232 bytes)."""
        if tcp:
            return await query(self.port, qname, qtype, tcp=True, host=self.host)
        return await query(self.port, qname, qtype, host=self.host, use_edns=True)


@asynccontextmanager
async def api_served(
    objects: Iterable[Json],
    stanza: str = "",
    *,
    api: FakeAPIServer | None = None,
    zones: Iterable[str] = ("cluster.local", "in-addr.arpa", "ip6.arpa"),
    hosts: Iterable[str] = ("127.0.0.1",),
    others: dict[str, list[str]] | None = None,
    ready: bool = False,
) -> AsyncIterator[ApiServed]:
    """A FakeAPIServer loaded with ``objects`` (or the given, already started ``api``), and
    clusterdns started from ``api_corefile`` reading it; ``run_corefile`` returns once the
    plugin synced or its ``startup_timeout`` passed."""
    hosts = list(hosts)
    async with AsyncExitStack() as stack:
        server = api if api is not None else await stack.enter_async_context(FakeAPIServer())
        server.load(objects)
        text = api_corefile(server.url, stanza, zones=zones, hosts=hosts, others=others, ready=ready)
        srv = await stack.enter_async_context(run_corefile(text))
        yield ApiServed(server, srv, hosts[0])


async def eventually(
    condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.01
) -> None:
    """Poll ``condition`` (a function, or one returning an awaitable) until truthy; fail after
    ``timeout`` seconds naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(interval)


def answer_lines(reply: dns.message.Message) -> list[str]:
    """The answer section as sorted lower-case lines."""
    return sorted(line.lower() for rrset in reply.answer for line in rrset.to_text().splitlines())


async def until_answered(
    served: ApiServed,
    qname: str,
    qtype: str,
    *,
    rcode: str = "NOERROR",
    answer: Iterable[str] = (),
    timeout: float = FOLLOW_SECONDS,
    tcp: bool = False,
) -> dns.message.Message:
    """Ask until the reply has ``rcode`` and exactly ``answer`` (AA set); fail after ``timeout``
    seconds, showing the last reply. Returns the matching reply."""
    wanted = sorted(rr(text).to_text().lower() for text in answer)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        reply = await served.ask(qname, qtype, tcp=tcp)
        if (
            dns.rcode.to_text(reply.rcode()) == rcode
            and answer_lines(reply) == wanted
            and reply.flags & dns.flags.AA
        ):
            return reply
        if loop.time() > deadline:
            raise AssertionError(
                f"{qname} {qtype}: not {rcode} {wanted} within {timeout}s; last reply:\n{reply.to_text()}"
            )
        await asyncio.sleep(0.005)
