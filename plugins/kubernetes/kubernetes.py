"""The *kubernetes* handler: cluster DNS answers (CoreDNS ``handler.go`` and the parts of
``plugin/backend_lookup.go`` and ``kubernetes.go`` ``Services`` it runs).

Per query type, as CoreDNS's ``ServeDNS``:

* A/AAAA: addresses of the name; an ExternalName gives its CNAME followed by the target's
  records, resolved here when the target is in the matched zone (nothing added if it has none)
  or through the whole server otherwise (``Mux.lookup``; the CNAME alone when the target has
  no answer, nothing when no reply came; the sub-answer's TC is passed on);
* SRV: one record per (target, port), priority 0, weight ⌊100/N⌋ (at least 1) with N counted
  before duplicates are dropped, targets' addresses in the additional section; ports ``-1``
  (none declared) and ExternalName services give none;
* TXT: ``dns-version.<zone>`` only; any other name is NODATA if it exists as a service name,
  else NXDOMAIN (so ``<zone>`` and ``<ns>.svc.<zone>`` TXT are NXDOMAIN, as in CoreDNS);
* CNAME: the ExternalName target; PTR: reverse lookups (forward names: existence only);
* SOA: only at the apex; elsewhere NODATA without looking the name up;
* NS at the apex (compared with the lower-cased name, as CoreDNS does); elsewhere, and for
  every other type, existence is checked as if the query were A: NODATA or NXDOMAIN;
* AXFR/IXFR: REFUSED (transfers are the *transfer* plugin's).

A name that does not exist falls through when ``fallthrough`` covers it; otherwise it is
NXDOMAIN, or SERVFAIL while the data source has not synced. Negative answers carry the SOA of
the matched zone in the query's case. Every answer is authoritative; owner names keep the
query's case and the zone part of SOA and SRV targets does too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from dnslib import CNAME, NS, PTR, RR, SRV, TXT, DNSLabel, DNSRecord

from clusterdns import wire
from clusterdns.corefile.address import fqdn, is_subdomain, matches
from clusterdns.errors import PluginError
from clusterdns.kube.index import ClusterIndex
from clusterdns.plugin import Handler, ResponseWriter
from clusterdns.request import Request

from . import autopath
from .names import Question, question_for, zone_label_count
from .options import KubernetesOptions
from .records import (
    CLASS_IN,
    DNS_SCHEMA_VERSION,
    DNS_SCHEMA_VERSION_TTL_SECONDS,
    TYPE_A,
    TYPE_AAAA,
    TYPE_AXFR,
    TYPE_CNAME,
    TYPE_IXFR,
    TYPE_MX,
    TYPE_NS,
    TYPE_PTR,
    TYPE_SOA,
    TYPE_SRV,
    TYPE_TXT,
    Finder,
    NameNotFound,
    NoItems,
    Record,
    address,
    address_from_reverse,
    host_type,
    soa_record,
)

#: CoreDNS ``maxCnameChainLength``: CNAMEs followed through ExternalName services.
MAX_CNAME_CHAIN: Final = 10
#: ``ns.dns.`` prefix of the plugin's default NS name.
_DEFAULT_NS_PREFIX: Final = "ns.dns."


def _is_default_ns(name: str, zone: str) -> bool:
    """CoreDNS ``isDefaultNS``: ``name`` (lower-cased) is ``ns.dns.<zone>`` with ``zone`` as
    the query wrote it (so an upper-case zone never matches, exactly as in Go)."""
    return name.startswith(_DEFAULT_NS_PREFIX) and name.find(zone) == len(_DEFAULT_NS_PREFIX)


class Kubernetes(Handler):
    """Answers names in its zones from a ``ClusterIndex``; see the module docstring."""

    name = "kubernetes"

    def __init__(
        self,
        next: Handler | None,
        *,
        options: KubernetesOptions,
        index: ClusterIndex,
        synced: Callable[[], bool],
        local_ips: Callable[[], list[str]],
        change_listeners: list[Callable[[], None]] | None = None,
    ) -> None:
        super().__init__(next)
        self.options = options
        self.index = index
        self.synced = synced
        #: this instance's change listeners; setup connects them to the (shared) index while
        #: the instance runs, so a replaced instance's callbacks do not stay behind
        self.change_listeners = change_listeners if change_listeners is not None else index.listeners
        self.local_ips = local_ips
        # read on every query
        self.zones = options.zones
        self.fall_zones = options.fall_zones
        self.ttl = options.ttl_seconds
        self.finder = Finder(options, index, local_ips)

    def ready(self) -> bool:
        """For *ready*: true once the data source has synced."""
        return self.synced()

    def on_change(self, callback: Callable[[], None]) -> None:
        """For a cache in front (DataChangeNotifier): called after every cluster change."""
        self.change_listeners.append(callback)

    def auto_path(self, req: Request) -> list[str] | None:
        """For *autopath* (AutoPather): the client's search list, or None (see autopath.py)."""
        return autopath.search_path(self, req)

    # --- the handler -------------------------------------------------------------------
    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        zone = matches(self.zones, req.name)
        if not zone:
            return await self.serve_next(req, w)
        q = question_for(req.qname, req.query.qname_labels, req.qtype, zone_label_count(zone))
        qtype = req.qtype
        records: list[RR] = []
        extra: list[RR] = []
        truncated = False
        try:
            if qtype == TYPE_A or qtype == TYPE_AAAA:
                records, truncated = await self._addresses(req, q, [])
            elif qtype == TYPE_SRV:
                records, extra = self._srv(q)
            elif qtype == TYPE_TXT:
                records = self._txt(q)
            elif qtype == TYPE_PTR:
                records = self._ptr(q)
            elif qtype == TYPE_CNAME:
                records = self._cname(q)
            elif qtype == TYPE_MX:
                self._services(q)  # no service is a mail exchanger: existence only
            elif qtype == TYPE_SOA:
                if q.qname == q.zone:
                    records = [self._soa(q)]
            elif qtype == TYPE_AXFR or qtype == TYPE_IXFR:
                return wire.REFUSED
            elif qtype == TYPE_NS and q.name == q.zone:
                records, extra = self._ns(q)
            else:
                self._services(q.with_type(TYPE_A))  # the "fake A lookup": NODATA or NXDOMAIN
        except NameNotFound:
            if self.fall_zones and matches(self.fall_zones, req.name):
                return await self.serve_next(req, w)
            return self._negative(req, w, q, wire.NXDOMAIN if self.synced() else wire.SERVFAIL)
        if not records:
            return self._negative(req, w, q, wire.NOERROR)
        reply = req.reply(authoritative=True)
        if truncated:
            reply.header.tc = 1
        reply.rr = records
        reply.ar = extra
        self._vouch(req)
        w.write_msg(reply)
        return wire.NOERROR

    def _vouch(self, req: Request) -> None:
        """This answer came from the synced index alone: the server may repeat it until the
        cluster changes (server/replay.py). An ExternalName lookup vetoes it (``_lookup``)."""
        note = req.replay
        if note is not None and self.synced():
            note.allow("kubernetes")

    def _soa(self, q: Question) -> RR:
        return soa_record(q.zone_labels, self.ttl, self.index.serial)

    def _negative(self, req: Request, w: ResponseWriter, q: Question, rcode: int) -> int:
        """CoreDNS ``BackendError``: ``rcode`` with the zone's SOA, written, AA set."""
        reply = req.reply(rcode, authoritative=True)
        reply.auth = [self._soa(q)]
        if rcode != wire.SERVFAIL:
            self._vouch(req)
        w.write_msg(reply)
        return wire.NOERROR

    # --- the backend: which records a name has (CoreDNS Kubernetes.Services) ---------------
    def _services(self, q: Question) -> list[Record]:
        """Records of the name for the question's type; NameNotFound if it does not exist."""
        if _is_default_ns(q.name, q.zone):
            wanted = q.qtype
            return [
                Record(ip, 0, (), self.ttl)
                for _, ip in self.finder.ns_addresses(q.zone)
                if (found := address(ip)) is not None and found[0] == wanted
            ]
        records = self.finder.records(q.name, q.left, q.zone_labels)
        if q.qtype != TYPE_SRV:
            return records
        return [r for r in records if host_type(r) != TYPE_CNAME]  # no SRV for ExternalName

    # --- per type (plugin/backend_lookup.go) ---------------------------------------------
    async def _addresses(
        self, req: Request, q: Question, previous: list[str]
    ) -> tuple[list[RR], bool]:
        """A or AAAA records (the question's type) of the name, and whether a sub-answer was
        truncated."""
        services = self._services(q)
        wanted = q.qtype
        records: list[RR] = []
        truncated = False
        seen: set[str] = set()
        for service in services:
            found = address(service.host)
            if found is None:
                if service.text:
                    continue
                target = fqdn(service.host)
                if is_subdomain(target, q.name):
                    continue  # x CNAME x (or below x) is a loop
                if len(previous) > MAX_CNAME_CHAIN or target in previous:
                    continue
                cname = RR(q.owner, TYPE_CNAME, CLASS_IN, service.ttl, CNAME(DNSLabel(target)))
                if is_subdomain(target, q.zone):
                    try:
                        following, tc = await self._addresses(
                            req, q.with_name(target, wanted), [*previous, target]
                        )
                    except NameNotFound:
                        following, tc = [], False
                    if following:
                        records.append(cname)
                        records.extend(following)
                    truncated = truncated or tc
                    continue
                reply = await self._lookup(req, target, wanted)
                if reply is None:
                    continue
                if reply.header.tc:
                    truncated = True
                records.append(cname)
                records.extend(reply.rr)
                continue
            rtype, rdata = found
            if rtype == wanted and service.host not in seen:
                seen.add(service.host)
                records.append(RR(q.owner, rtype, CLASS_IN, service.ttl, rdata))
        return records, truncated

    async def _lookup(self, req: Request, name: str, qtype: int) -> DNSRecord | None:
        """Resolve a name through the whole server (CoreDNS ``upstream.Lookup``)."""
        if req.replay is not None:
            req.replay.veto()  # the target's answer is not ours to repeat
        mux = req.mux
        if mux is None:
            return None
        reply: DNSRecord | None = await mux.lookup(req, name, qtype)
        return reply

    def _srv(self, q: Question) -> tuple[list[RR], list[RR]]:
        services = self._services(q)
        if not services:
            return [], []
        # every record has priority 0 and weight 0 (read as 100): one group of N
        weight = math.floor(100.0 / float(100 * len(services)) * 100.0) or 1
        records: list[RR] = []
        extra: list[RR] = []
        seen: set[tuple[tuple[bytes, ...], str, int]] = set()
        for service in services:
            if service.port == -1:
                continue
            found = address(service.host)
            if found is None:
                continue
            rtype, rdata = found
            target = DNSLabel(list(service.key))
            port = service.port & 0xFFFF
            if (service.key, "", port) not in seen:
                seen.add((service.key, "", port))
                records.append(
                    RR(q.owner, TYPE_SRV, CLASS_IN, service.ttl, SRV(0, weight, port, target))
                )
            if (service.key, service.host, 0) not in seen:
                seen.add((service.key, service.host, 0))
                extra.append(RR(target, rtype, CLASS_IN, service.ttl, rdata))
        return records, extra

    def _txt(self, q: Question) -> list[RR]:
        if len(q.left) == 1 and q.left[0] == "dns-version":
            return [
                RR(q.owner, TYPE_TXT, CLASS_IN, DNS_SCHEMA_VERSION_TTL_SECONDS, TXT(DNS_SCHEMA_VERSION))
            ]
        try:
            found = self.finder.records(q.name, q.left, q.zone_labels)
        except NameNotFound:
            found = []
        if found:
            return []  # the name exists with other types: NODATA
        raise NoItems

    def _cname(self, q: Question) -> list[RR]:
        services = self._services(q)
        if services and address(services[0].host) is None:
            first = services[0]
            return [RR(q.owner, TYPE_CNAME, CLASS_IN, first.ttl, CNAME(DNSLabel(fqdn(first.host))))]
        return []

    def _ptr(self, q: Question) -> list[RR]:
        ip = address_from_reverse(q.name)
        if not ip:
            self.finder.records(q.name, q.left, q.zone_labels)  # existence only
            return []
        found = self.finder.reverse(ip)
        if not found:
            raise NoItems
        records = []
        seen: set[str] = set()
        for record in found:
            if record.host in seen or address(record.host) is not None:
                continue
            seen.add(record.host)
            records.append(
                RR(q.owner, TYPE_PTR, CLASS_IN, record.ttl, PTR(DNSLabel(fqdn(record.host))))
            )
        return records

    def _ns(self, q: Question) -> tuple[list[RR], list[RR]]:
        """NS at the apex: the services in front of this server, else ``ns.dns.<zone>``."""
        records: list[RR] = []
        extra: list[RR] = []
        seen: set[str] = set()
        for name, ip in self.finder.ns_addresses(q.zone):
            found = address(ip)
            if found is None:  # ns_addresses keeps only addresses; a name here is a bug
                raise PluginError(self.name, f"NS record must be an IP address: {ip}")
            target = DNSLabel(fqdn(name))
            extra.append(RR(target, found[0], CLASS_IN, self.ttl, found[1]))
            if name in seen:
                continue
            seen.add(name)
            records.append(RR(q.owner, TYPE_NS, CLASS_IN, self.ttl, NS(target)))
        return records, extra


__all__ = ["Kubernetes", "MAX_CNAME_CHAIN"]
