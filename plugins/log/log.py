"""The *log* handler: one line per query, after it was answered (CoreDNS ``plugin/log``).

The first rule whose name contains the query name applies (later rules are not consulted);
without a matching rule the query passes through unlogged. The rest of the chain runs, then
the line is built from the query and from what was written to the client (``req.outcome``:
rcode, header flags, size as the plugin wrote it). When the chain wrote nothing and returned an
rcode the server answers for (SERVFAIL, REFUSED, ...), the line describes the minimal reply
CoreDNS makes up for it, as CoreDNS's log does. A ``PluginError`` from the chain is logged like
its rcode and raised on, so *errors* still sees it. Lines go to the ``clusterdns`` logger at
INFO with no plugin prefix: ``[INFO] 10.0.0.1:40386 - 51623 "A IN example.org. udp ...``.

Only rules with a ``class`` filter (or a block with the *metadata* plugin) need the reply's
type and class (CoreDNS ``response.Typify`` and ``Classify``, in ``clusterdns.response``), and
only they pay for keeping the written message.
"""

from __future__ import annotations

import time
from logging import INFO
from dataclasses import dataclass
from typing import Final

from dnslib import DNSRecord

from clusterdns import wire
from clusterdns.errors import PluginError
from clusterdns.log import core_logger
from clusterdns.plugin import Handler, ResponseWriter, WriterWrapper, client_wrote
from clusterdns.request import Request
from clusterdns.response import Type, classify, typify, typify_parts

from .options import ALL, LogOptions, Rule
from .replacer import Format, Recorded, load_format

log = core_logger()

_HEADER_AND_QUESTION_FIXED: Final = wire.HEADER_SIZE + 4  # header, qtype and qclass
_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _escaped(name: str, index: int) -> bool:
    """Whether the character at ``index`` follows an odd number of backslashes."""
    count = 0
    while index > 0 and name[index - 1] == "\\":
        count += 1
        index -= 1
    return count % 2 == 1


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready for the query path: lower-cased scope, split format, class set."""

    scope: str
    format: Format
    log_all: bool
    classes: frozenset[str]

    @classmethod
    def from_rule(cls, rule: Rule) -> CompiledRule:
        return cls(
            scope=rule.name_scope.translate(_ASCII_LOWER),
            format=load_format(rule.format),
            log_all=ALL in rule.classes,
            classes=rule.classes,
        )

    def matches(self, name: str) -> bool:
        """``name`` (lower-cased) is the scope or below it (CoreDNS ``plugin.Name.Matches``)."""
        scope = self.scope
        if scope == "." or name == scope:
            return True
        cut = len(name) - len(scope)
        return (
            cut > 0
            and name.endswith(scope)
            and name[cut - 1] == "."
            and not _escaped(name, cut - 1)
        )


class _Keep(WriterWrapper):
    """Passes the reply on and keeps it, for the class filter (CoreDNS's recorder ``Msg``)."""

    __slots__ = ("msg",)

    def __init__(self, inner: ResponseWriter) -> None:
        super().__init__(inner)
        self.msg: DNSRecord | None = None

    def write_msg(self, msg: DNSRecord) -> None:
        self.msg = msg
        self.inner.write_msg(msg)


class Log(Handler):
    """Logs each query matching a rule once the chain has answered it."""

    name = "log"

    def __init__(self, next: Handler | None, *, options: LogOptions) -> None:
        super().__init__(next)
        self.options = options
        self.rules = tuple(CompiledRule.from_rule(rule) for rule in options.rules)
        #: Set at startup when the block runs the *metadata* plugin.
        self.metadata = False

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        name = req.name
        for rule in self.rules:
            if rule.matches(name):
                return await self._serve_logged(rule, req, w)
        return await self.serve_next(req, w)

    async def _serve_logged(self, rule: CompiledRule, req: Request, w: ResponseWriter) -> int:
        start = time.perf_counter_ns()
        typed = self.metadata or not rule.log_all
        keep = _Keep(w) if typed else None
        error: PluginError | None = None
        try:
            rcode = await self.serve_next(req, keep or w)
        except PluginError as exc:
            rcode, error = exc.rcode, exc
        outcome = req.outcome
        if outcome is not None:
            recorded = Recorded(outcome.rcode, outcome.flags, outcome.size, True, start)
        elif not client_wrote(rcode):
            recorded = _made_up(req, rcode, start)
        else:
            recorded = Recorded(0, 0, 0, False, start)
        if typed:
            if outcome is not None and keep is not None and keep.msg is not None:
                kind = typify(keep.msg, do=reply_do(keep.msg, req.query.edns))
            elif recorded.written:
                kind = typify_unwritten(rcode, req.query.opcode, req.qtype)
            else:
                kind = typify(None, do=False)
            response_class = classify(kind)
            if self.metadata:
                req.metadata["log/type"] = kind
                req.metadata["log/class"] = response_class
            if (rule.log_all or response_class in rule.classes) and log.isEnabledFor(INFO):
                log.info("%s", rule.format.render(req, recorded))
        elif log.isEnabledFor(INFO):
            log.info("%s", rule.format.render(req, recorded))
        if error is not None:
            raise error
        return rcode


def reply_do(msg: DNSRecord, query_edns: wire.Edns | None) -> bool:
    """The DO bit of the reply as sent: the query's OPT is echoed (``SizeAndDo``)."""
    plugin_do = any(rr.rtype == wire.TYPE_OPT and rr.ttl & 0x8000 for rr in msg.ar)
    if query_edns is not None:
        return query_edns.do or plugin_do
    return plugin_do


def typify_unwritten(rcode: int, opcode: int, qtype: int) -> Type:
    """The type of the reply CoreDNS's log makes up for a chain that wrote nothing
    (``msg.SetRcode(r, rc)``: the question and opcode copied, no records, no OPT)."""
    return typify_parts(opcode, rcode, qtype)


def _made_up(req: Request, rcode: int, start: int) -> Recorded:
    """The reply CoreDNS's log invents when nothing was written (``msg.SetRcode(r, rc)``)."""
    query = req.query
    flags = wire.FLAG_QR | (query.flags & 0x7800)  # opcode copied
    if query.opcode == wire.OPCODE_QUERY:
        flags |= query.flags & (wire.FLAG_RD | wire.FLAG_CD)
    name_length = sum(len(label) + 1 for label in query.qname_labels) + 1
    return Recorded(rcode, flags, _HEADER_AND_QUESTION_FIXED + name_length, True, start)
