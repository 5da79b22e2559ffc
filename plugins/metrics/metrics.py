"""The *prometheus* handler: records every query of its block in CoreDNS's core families.

It is the outermost DNS handler of a block that loads it (before *errors* and *log* in
CoreDNS's plugin.cfg order). It calls onward and, once the rest of the chain has answered,
records what happened (CoreDNS ``plugin/metrics/handler.go``):

* ``zone``: the server-block key the query matched;
* ``rcode``: the rcode returned when it is one that leaves the answer to the server (SERVFAIL,
  REFUSED, FORMERR, NOTIMP), else the rcode of the reply written (NOERROR if none was);
* ``plugin``: the plugin that wrote the reply, empty when nothing was written;
* response size: the bytes written, 0 when nothing was. The server writes its error replies
  after this handler has returned, so CoreDNS records 0 for them too.

A ``PluginError`` is recorded as its rcode and re-raised; any other exception is a bug the
server recovers from, and like a Go panic it unwinds past this handler unrecorded.
"""

from __future__ import annotations

import time

from clusterdns import metrics, wire
from clusterdns.errors import PluginError
from clusterdns.plugin import Handler, ResponseWriter, client_wrote
from clusterdns.request import Request

class Metrics(Handler):
    """Times and counts every query passing through its block's chain."""

    name = "prometheus"

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        started = time.perf_counter()
        try:
            rcode = await self.serve_next(req, w)
        except PluginError as exc:
            self._report(req, exc.rcode, started)
            raise
        self._report(req, rcode, started)
        return rcode

    @staticmethod
    def _report(req: Request, status: int, started: float) -> None:
        outcome = req.outcome
        if not client_wrote(status):
            rcode = status  # nothing (meant to be) written: the server answers with this rcode
        else:
            rcode = outcome.rcode if outcome is not None else wire.NOERROR
        record = metrics.replayer(
            server=req.server,
            zone=req.zone,
            proto=req.proto,
            family=req.family,
            type_name=req.type_name,
            do=req.do,
            request_size=req.request_size,
            rcode=wire.rcode_name(rcode),
            plugin=outcome.plugin if outcome is not None else "",
            response_size=outcome.size if outcome is not None else 0,
        )
        record(1, time.perf_counter() - started)
        note = req.replay
        if note is not None and note.keep and not note.vetoed:
            note.effects.append(record)  # the same updates for each replay of this answer
