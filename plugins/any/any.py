"""The *any* handler: a minimal answer to ANY queries (RFC 8482, CoreDNS ``plugin/any``).

ANY is answered with one record, ``<qname> 8482 IN HINFO "ANY obsoleted" "See RFC 8482"``:
the owner is the question name as the client wrote it (case kept), class IN, and the reply is
not authoritative. Every other query type goes to the next plugin.
"""

from __future__ import annotations

from typing import Final

from dnslib import RD, RR

from clusterdns import wire
from clusterdns.plugin import Handler, ResponseWriter
from clusterdns.request import Request

TYPE_HINFO: Final = 13
TYPE_ANY: Final = 255
TTL_SECONDS: Final = 8482
CPU: Final = "ANY obsoleted"
OS: Final = "See RFC 8482"


class HINFO(RD):
    """HINFO rdata (two character-strings); dnslib has no class for it."""

    def __init__(self, cpu: str, os: str) -> None:
        self.cpu = cpu
        self.os = os
        cpu_bytes, os_bytes = cpu.encode(), os.encode()
        super().__init__(bytes([len(cpu_bytes)]) + cpu_bytes + bytes([len(os_bytes)]) + os_bytes)

    def __repr__(self) -> str:
        return f'"{self.cpu}" "{self.os}"'


_RDATA: Final = HINFO(CPU, OS)  # immutable in practice: shared by every reply


class Any(Handler):
    """Answers ANY with the RFC 8482 HINFO; passes everything else on."""

    name = "any"

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        if req.qtype != TYPE_ANY:
            return await self.serve_next(req, w)
        reply = req.reply()
        owner = wire.question_label(req.query.qname_labels)
        reply.rr = [RR(owner, rtype=TYPE_HINFO, rclass=wire.CLASS_IN, ttl=TTL_SECONDS, rdata=_RDATA)]
        w.write_msg(reply)
        return wire.NOERROR
