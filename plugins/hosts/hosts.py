"""The *hosts* handler: A, AAAA and PTR answers from a hosts file (CoreDNS ``plugin/hosts``).

Behaviour follows CoreDNS's ``hosts.go``:

* a name outside the plugin's zones goes to the next plugin, except PTR queries, which are
  answered for any reverse name whose address is in the data;
* a PTR query whose address is unknown always goes to the next plugin;
* an A/AAAA hit is authoritative, owner = the lower-cased qname;
* a known name without records of the asked type is an authoritative empty NOERROR, with no
  SOA (there is none to give);
* an unknown name falls through when ``fallthrough`` covers it, else the plugin returns
  SERVFAIL unwritten (CoreDNS cannot build an NXDOMAIN without a SOA);
* other types for a known name fall through only with ``fallthrough_unsupported``.

Per query this is one or two dictionary lookups in the current ``Table``.
"""

from __future__ import annotations

from dnslib import RD, RR, DNSLabel

from clusterdns import wire
from clusterdns.corefile.address import matches
from clusterdns.plugin import Handler, ResponseWriter
from clusterdns.request import Request

from .hostsfile import Hostsfile
from .options import HostsOptions
from .reverse import address_from_reverse

TYPE_A = 1
TYPE_PTR = 12
TYPE_AAAA = 28


class Hosts(Handler):
    """Answers from a ``Hostsfile``; see the module docstring for the rules."""

    name = "hosts"

    def __init__(self, next: Handler | None, *, options: HostsOptions, hostsfile: Hostsfile) -> None:
        super().__init__(next)
        self.options = options
        self.hostsfile = hostsfile
        # copied out of the options: read on every query
        self.zones = options.origins
        self.ttl = options.ttl_seconds
        self.fall_zones = options.fall_zones
        self.fallthrough_unsupported = options.fallthrough_unsupported

    def _falls_through(self, qname: str) -> bool:
        return matches(self.fall_zones, qname) != ""

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        qname = req.name
        qtype = req.qtype
        table = self.hostsfile.table  # read once: a reload swaps the whole table
        if qtype == TYPE_PTR:
            names = table.ptr.get(address_from_reverse(qname))
            if not names:
                return await self.serve_next(req, w)
            return self._write(req, w, TYPE_PTR, names)
        if not matches(self.zones, qname):
            return await self.serve_next(req, w)
        found = table.lookup(qname)
        records: tuple[RD, ...] = ()
        if found is not None:
            if qtype == TYPE_A:
                records = found.v4
            elif qtype == TYPE_AAAA:
                records = found.v6
        if qtype != TYPE_A and qtype != TYPE_AAAA:
            if self.fallthrough_unsupported and self._falls_through(qname):
                return await self.serve_next(req, w)
        if not records and found is None:
            if self._falls_through(qname):
                return await self.serve_next(req, w)
            return wire.SERVFAIL
        return self._write(req, w, qtype, records)

    def _write(self, req: Request, w: ResponseWriter, rtype: int, rdatas: tuple[RD, ...]) -> int:
        reply = req.reply(authoritative=True)
        if rdatas:
            owner = DNSLabel([label.lower() for label in req.query.qname_labels])
            ttl = self.ttl
            reply.rr = [
                RR(owner, rtype=rtype, rclass=wire.CLASS_IN, ttl=ttl, rdata=rdata) for rdata in rdatas
            ]
        w.write_msg(reply)
        return wire.NOERROR
