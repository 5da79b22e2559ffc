"""The *whoami* handler: tells a client how the server sees it (CoreDNS ``plugin/whoami``).

It answers every query type (the CoreDNS README says A/AAAA; the code answers all), with an
empty answer section and, in the additional section, the client's address as A or AAAA and
``_<proto>.<qname>`` SRV carrying the client's port. Records copy the query's class and have
TTL 0. It is the whole configuration CoreDNS runs when no Corefile exists.
"""

from __future__ import annotations

from dnslib import AAAA, RR, SRV, A, DNSLabel

from clusterdns import wire
from clusterdns.plugin import Handler, ResponseWriter
from clusterdns.request import Request


class Whoami(Handler):
    """Reflects the client's address, port and transport."""

    name = "whoami"

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        reply = req.reply(authoritative=True)
        owner = wire.question_label(req.query.qname_labels)
        if req.family == 1:
            reply.add_ar(RR(owner, rtype=1, rclass=req.qclass, ttl=0, rdata=A(req.remote_ip)))
        else:
            reply.add_ar(RR(owner, rtype=28, rclass=req.qclass, ttl=0, rdata=AAAA(req.remote_ip)))
        srv_owner = DNSLabel([f"_{req.proto}".encode(), *req.query.qname_labels])
        reply.add_ar(
            RR(
                srv_owner,
                rtype=33,
                rclass=req.qclass,
                ttl=0,
                rdata=SRV(priority=0, weight=0, port=req.remote_port, target="."),
            )
        )
        w.write_msg(reply)
        return wire.NOERROR
