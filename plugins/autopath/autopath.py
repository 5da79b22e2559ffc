"""The *autopath* handler: server-side search path completion (CoreDNS ``autopath.go``, ``cname.go``).

A pod's resolver turns ``api.example.com`` into ``api.example.com.<ns>.svc.cluster.local``,
``api.example.com.svc.cluster.local``... and asks each in turn until one is not NXDOMAIN.
*autopath* does that walk on the server when it sees the first of those names, and answers it
with what the walk found, so the client stops after one round trip. Per query, as CoreDNS:

* outside the plugin's zones, or without a search list (none from the file, or the
  ``AutoPather`` says it does not know this client), the query goes on untouched;
* the query is walked only when its name is the **first** search element or below it; the
  name exactly equal to the first element fails as in CoreDNS (SERVFAIL and the error
  ``trimzone: overshot qname: <qname>for zone <first>``, wording and missing space kept);
* base = the name minus the first element (labels in the query's case); for each element in
  order the rest of the chain is asked ``base.<element>`` (the last, ``""``, is the base as an
  absolute name) with a copy of the query that differs only in its question name (same ID,
  flags, type, class, EDNS), through a capturing ``NonWriter``;
* an error raised by a sub-query ends the walk at once and propagates; a sub-query whose chain
  wrote nothing (SERVFAIL, REFUSED... returned) is skipped; the first reply that is not
  NXDOMAIN wins, NODATA and a written SERVFAIL included: its question is set back to the
  query's name and case and, when an answer record is owned by another name, a CNAME from the
  query's name to the owner of the first such record (with that record's TTL) is put first;
  ``coredns_autopath_success_total{server}`` counts it;
* when every reply is NXDOMAIN, the reply to the first sub-query (the query's own name, with
  the search part lower-cased as the search list has it) is written as it came.

The walk is bounded by the search list; sub-queries go to the rest of the chain, never back
into *autopath*; lookups that re-enter the server (ExternalName targets) are bounded by the
mux's depth limit. A candidate that cannot be a name (longer than 255 octets, or a search
element with an empty or over-long label) is skipped like a sub-query that wrote nothing.

With ``infer_namespace`` the request handed to the ``AutoPather`` is a copy carrying the
metadata flag ``autopath/infer-namespace``: the plugin may then derive a search path from the
query name when it does not know the client (kubernetes: ``<name>.<ns>.svc.<zone>`` with an
existing ``<ns>``). The walk itself is the same.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Final

from dnslib import CLASS, CNAME, QTYPE, RR, DNSLabel, DNSQuestion, DNSRecord

from clusterdns import wire
from clusterdns.corefile.address import is_subdomain, matches
from clusterdns.errors import PluginError
from clusterdns.plugin import (
    AUTOPATH_INFER_NAMESPACE,
    AutoPather,
    Handler,
    NonWriter,
    ResponseWriter,
    client_wrote,
    next_or_failure,
)
from clusterdns.request import Request

from .metrics import SUCCESS
from .options import AutoPathOptions

#: The metadata key of a request handed to an ``AutoPather`` in ``infer_namespace`` mode.
#: The plugin on the other side reads the same string (plugins share no code).
INFER_NAMESPACE_METADATA: Final = AUTOPATH_INFER_NAMESPACE

SearchFunc = Callable[[Request], "list[str] | None"]

_TYPE_CNAME: Final = QTYPE.CNAME
_CLASS_IN: Final = CLASS.IN


@functools.lru_cache(maxsize=4096)
def search_labels(element: str) -> tuple[bytes, ...] | None:
    """Wire labels of a search element ('' and '.' have none); None if it is not a name."""
    if element in ("", "."):
        return ()
    labels = tuple(element.rstrip(".").encode("utf-8", "surrogateescape").split(b"."))
    if any(not label or len(label) > wire.MAX_LABEL_LENGTH for label in labels):
        return None
    return labels


def first_in_search_path(name: str, first: str) -> bool:
    """CoreDNS ``firstInSearchPath``: ``name`` (lower-cased) is ``first`` or below it."""
    return not first or is_subdomain(name, first)


def cnamer(msg: DNSRecord, original: DNSLabel) -> DNSRecord:
    """CoreDNS ``cnamer``: ``msg`` with a CNAME from ``original`` to the first answer owned by
    another name put first, and the question set back to ``original``.

    CoreDNS changes the message in place; here a shallow copy is changed instead, so a
    message a plugin keeps (and writes again) is never altered.
    """
    out = copy.copy(msg)
    for record in msg.rr:
        if record.rname == original:  # DNSLabel equality ignores case, as strings.EqualFold
            continue
        out.rr = [RR(original, _TYPE_CNAME, _CLASS_IN, record.ttl, CNAME(record.rname)), *msg.rr]
        break
    if msg.questions:
        first = msg.questions[0]
        out.questions = [DNSQuestion(original, first.qtype, first.qclass), *msg.questions[1:]]
    return out


def sub_request(req: Request, labels: tuple[bytes, ...]) -> Request | None:
    """A request for the same query with another question name; None if it cannot be one."""
    if sum(len(label) + 1 for label in labels) + 1 > wire.MAX_NAME_WIRE_LENGTH:
        return None
    query = req.query
    data = (
        query.data[: wire.HEADER_SIZE]
        + wire.question_wire(labels, query.qtype, query.qclass)
        + query.data[query.question_end :]
    )
    parsed = wire.parse_query(data)
    if isinstance(parsed, wire.Rejected):
        return None
    return req.derive(parsed)


class AutoPath(Handler):
    """Walks the search path on the server; see the module docstring."""

    name = "autopath"

    def __init__(self, next: Handler | None, *, options: AutoPathOptions) -> None:
        super().__init__(next)
        self.options = options
        self.zones = options.zones
        self.search: list[str] = list(options.search)
        self.infer_namespace = options.infer_namespace
        self.search_func: SearchFunc | None = None

    def search_path_from(self, pather: AutoPather) -> None:
        """Take the search list from ``pather`` for every query (found at startup)."""
        self.search_func = pather.auto_path

    def _search_path(self, req: Request) -> list[str] | None:
        func = self.search_func
        if func is None:
            return self.search
        if self.infer_namespace:
            probe = req.derive(req.query)
            probe.metadata[INFER_NAMESPACE_METADATA] = True
            return func(probe)
        return func(req)

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        if not matches(self.zones, req.name):
            return await self.serve_next(req, w)
        search = self._search_path(req)
        if not search or not first_in_search_path(req.name, search[0]):
            return await self.serve_next(req, w)
        labels = req.query.qname_labels
        first = search_labels(search[0])
        if first is None:
            return await self.serve_next(req, w)
        if first and len(labels) <= len(first):
            raise PluginError(
                self.name,
                f"trimzone: overshot qname: {req.qname}for zone {search[0]}",
                prefixed=False,
            )
        base = labels[: len(labels) - len(first)]
        first_reply: DNSRecord | None = None
        first_rcode = wire.SERVFAIL
        for index, element in enumerate(search):
            suffix = search_labels(element)
            sub = None if suffix is None else sub_request(req, base + suffix)
            if sub is None:
                continue
            nw = NonWriter(w)
            rcode = await next_or_failure(self.name, self.next, sub, nw)
            if index == 0:
                first_reply, first_rcode = nw.msg, rcode
            if not client_wrote(rcode):
                continue
            msg = nw.msg
            if msg is None or msg.header.rcode == wire.NXDOMAIN:
                continue
            w.write_msg(cnamer(msg, DNSLabel(list(labels))))
            SUCCESS.labels(req.server).inc()
            return rcode
        if client_wrote(first_rcode) and first_reply is not None:
            w.write_msg(first_reply)
        return first_rcode


__all__ = [
    "AutoPath",
    "INFER_NAMESPACE_METADATA",
    "cnamer",
    "first_in_search_path",
    "search_labels",
    "sub_request",
]
