"""The *forward* handler: sends queries at or below FROM to upstream resolvers.

This is CoreDNS's ``Forward.ServeDNS`` (``plugin/forward/forward.go``). A query that matches
FROM (and no ``except`` name; FROM itself always matches) is checked against
``max_concurrent`` (over it: REFUSED, counted, the error goes to *errors*), then the upstreams
are tried in the policy's order until one answers, within an overall deadline of 5 s and at
most ``max_connect_attempts`` failed exchanges (twice the number of upstreams by default):

* an upstream that is down is skipped; when every one is, health checking is assumed broken
  (counted) and a random upstream is tried, or the query fails at once with
  ``failfast_all_unhealthy_upstreams``;
* the protocol is the client's, TCP with ``force_tcp``, UDP with ``prefer_udp`` (a truncated
  reply is then retried over TCP; otherwise a TC reply goes to the client as it is);
* a failed exchange starts that upstream's health checker (unless ``max_fails`` is 0);
* a reply whose question is not the query's is answered FORMERR;
* ``failover`` rcodes try the next upstream (once per upstream, then the last reply stands);
  ``next`` rcodes (and ``next_on_nodata``) hand the query to the next plugin, only when that
  is another *forward*;
* otherwise the reply is written as the upstream sent it, flags included, with the client's
  ID.

When nothing answered the query fails with SERVFAIL and the last upstream error, passed on
unprefixed as CoreDNS does (``read udp ...: i/o timeout``), or ``no healthy proxies``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Final

from dnslib import DNSRecord

from clusterdns import wire
from clusterdns.corefile.address import is_subdomain
from clusterdns.errors import PluginError
from clusterdns.log import plugin_logger
from clusterdns.plugin import Handler, ResponseWriter
from clusterdns.request import Request

from . import metrics
from .options import DEFAULT_CONNECT_ATTEMPTS_PER_UPSTREAM, ForwardOptions
from .policy import Policy, new_policy
from .proxy import Proxy, full_rcode
from .transport import CachedClosed, UpstreamError

log = plugin_logger("forward")

#: The most a query may spend on its upstreams (CoreDNS ``defaultTimeout``).
DEADLINE_SECONDS: Final = 5.0
ERR_NO_HEALTHY: Final = "no healthy proxies"


class Forward(Handler):
    """One ``forward`` line of a server block."""

    name = "forward"

    def __init__(
        self, next: Handler | None, *, options: ForwardOptions, proxies: Sequence[Proxy]
    ) -> None:
        super().__init__(next)
        self.options = options
        self.proxies = tuple(proxies)
        self.policy: Policy[Proxy] = new_policy(options.policy)
        self.from_zone = options.from_zone
        self.ignored = options.ignored
        self.concurrent = 0
        self.max_attempts = (
            options.max_connect_attempts
            if options.max_connect_attempts is not None
            else DEFAULT_CONNECT_ATTEMPTS_PER_UPSTREAM * len(self.proxies)
        )

    def match(self, name: str) -> bool:
        """Whether this forward takes ``name`` (lower-cased FQDN)."""
        if not is_subdomain(name, self.from_zone):
            return False
        if name == self.from_zone:
            return True
        return not any(is_subdomain(name, ignored) for ignored in self.ignored)

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        if not self.match(req.name):
            return await self.serve_next(req, w)
        limit = self.options.max_concurrent
        if not limit:
            return await self._forward(req, w)
        if self.concurrent >= limit:
            metrics.MAX_CONCURRENT_REJECTS.inc()
            raise PluginError(
                self.name,
                f"concurrent queries exceeded maximum {self.options.max_concurrent_text}",
                rcode=wire.REFUSED,
                prefixed=False,
            )
        self.concurrent += 1
        try:
            return await self._forward(req, w)
        finally:
            self.concurrent -= 1

    async def _forward(self, req: Request, w: ResponseWriter) -> int:
        options = self.options
        proxies = self.proxies
        count = len(proxies)
        max_fails = options.max_fails
        max_attempts = self.max_attempts
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE_SECONDS
        ordered = self.policy.order(proxies)
        data = req.query.data
        bufsize = req.size
        upstream_error: UpstreamError | None = None
        fails = failovers = attempts = i = 0
        while loop.time() < deadline and (max_attempts == 0 or attempts < max_attempts):
            if i >= count:
                i = fails = 0
            proxy = ordered[i]
            i += 1
            if proxy.down(max_fails):
                fails += 1
                if fails < count:
                    continue
                metrics.HEALTHCHECK_BROKEN.inc()
                if options.failfast_all_unhealthy_upstreams:
                    break
                proxy = random.choice(proxies)

            force_tcp = options.force_tcp
            reply: DNSRecord | None = None
            while True:
                if force_tcp:
                    proto = "tcp"
                elif options.prefer_udp:
                    proto = "udp"
                else:
                    proto = req.proto
                try:
                    reply = await proxy.exchange(data, proto, bufsize, deadline)
                except CachedClosed:
                    continue
                except UpstreamError as exc:
                    upstream_error = exc
                    reply = None
                    break
                if reply.header.tc and not force_tcp and options.prefer_udp:
                    force_tcp = True
                    continue
                upstream_error = None
                break

            if reply is None:
                if max_fails != 0:
                    proxy.healthcheck()
                if max_attempts > 0:
                    attempts += 1
                    if attempts >= max_attempts:
                        break
                if fails < count:
                    continue
                break

            if not _matches(req, reply):
                log.debug(
                    "Wrong reply for id: %d, %s %d", reply.header.id, req.qname, req.qtype
                )
                w.write_msg(req.reply(wire.FORMERR))
                return wire.NOERROR

            rcode = full_rcode(reply)
            if rcode in options.failover_rcodes:
                failovers += 1
                if failovers < count:
                    continue
            if isinstance(self.next, Forward):
                if rcode in options.next_rcodes:
                    return await self.serve_next(req, w)
                if options.next_on_nodata and rcode == wire.NOERROR and not reply.rr:
                    return await self.serve_next(req, w)

            w.write_msg(reply)
            return wire.NOERROR

        message = str(upstream_error) if upstream_error is not None else ERR_NO_HEALTHY
        raise PluginError(self.name, message, prefixed=False)


def _matches(req: Request, reply: DNSRecord) -> bool:
    """CoreDNS ``Request.Match``: a response to exactly this question (name case ignored)."""
    if len(reply.questions) != 1 or not reply.header.qr:
        return False
    question = reply.questions[0]
    if question.qtype != req.qtype or question.qclass != req.qclass:
        return False
    labels = question.qname.label
    wanted = req.query.qname_labels
    if len(labels) != len(wanted):
        return False
    return all(a.lower() == b.lower() for a, b in zip(labels, wanted))
