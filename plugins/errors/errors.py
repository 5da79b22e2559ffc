"""The *errors* handler: logs the errors the rest of the chain raises (CoreDNS ``plugin/errors``).

Every ``PluginError`` raised after *errors* in the chain is logged as
``[ERROR] plugin/errors: <rcode> <qname> <qtype>: <error>`` (the rcode as a number, the name
lower-cased) and the error's rcode is returned, so the server answers it. A ``consolidate``
pattern that matches the error text counts it instead: the first match starts a timer of the
pattern's period, and when it fires one line ``<n> errors like '<re>' occurred in last <dur>``
is logged at the pattern's level. With ``show_first`` the first error of a period is logged at
once (at that level) and the summary only appears when more followed. The first matching
pattern wins. Pending summaries are written when the instance shuts down; after that errors are
no longer counted, but logged at once at their pattern's level (as CoreDNS does once stopped).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from clusterdns.errors import PluginError
from clusterdns.log import plugin_logger
from clusterdns.plugin import Handler, ResponseWriter
from clusterdns.request import Request

from clusterdns.duration import format_duration
from .options import ConsolidateRule, ErrorsOptions

log = plugin_logger("errors")

LogFunc = Callable[..., None]
_LEVELS: Final[dict[str, LogFunc]] = {
    "warning": log.warning,
    "error": log.error,
    "info": log.info,
    "debug": log.debug,  # shown only when the *debug* plugin switched debug logging on
}


@dataclass(eq=False, slots=True)
class _Pattern:
    """A consolidate rule and its live state: the count in this period and the timer."""

    rule: ConsolidateRule
    log: LogFunc
    count: int = 0
    timer: asyncio.TimerHandle | None = None


class Consolidator:
    """The per-block state of the ``consolidate`` rules, shared across the block's zones."""

    def __init__(self, rules: tuple[ConsolidateRule, ...]) -> None:
        self.patterns = [_Pattern(rule, _LEVELS[rule.level]) for rule in rules]
        self.stopped = False

    def match(self, text: str) -> _Pattern | None:
        """The first pattern whose regular expression matches ``text`` anywhere."""
        for pattern in self.patterns:
            if pattern.rule.regexp.search(text):
                return pattern
        return None

    def consolidate(self, pattern: _Pattern) -> bool:
        """Count one error; False when the caller must log it now (stopped, or show_first)."""
        if self.stopped:
            return False
        pattern.count += 1
        if pattern.count == 1:
            delay = pattern.rule.period_ns / 1e9
            pattern.timer = asyncio.get_running_loop().call_later(delay, self._fire, pattern)
            return not pattern.rule.show_first
        return True

    def _fire(self, pattern: _Pattern) -> None:
        pattern.timer = None
        self._summarise(pattern)

    def _summarise(self, pattern: _Pattern) -> None:
        count, pattern.count = pattern.count, 0
        if count == 0:
            return
        if count > 1 or not pattern.rule.show_first:
            pattern.log(
                "%d errors like '%s' occurred in last %s",
                count,
                pattern.rule.regexp_text,
                format_duration(pattern.rule.period_ns),
            )

    async def stop(self) -> None:
        """Flush pending summaries; from now on errors are logged as they come."""
        self.stopped = True
        for pattern in self.patterns:
            if pattern.timer is not None:
                pattern.timer.cancel()
                pattern.timer = None
                self._summarise(pattern)


class Errors(Handler):
    """Logs (or consolidates) the errors of the plugins after it; returns their rcode."""

    name = "errors"

    def __init__(
        self, next: Handler | None, *, options: ErrorsOptions, consolidator: Consolidator
    ) -> None:
        super().__init__(next)
        self.options = options
        self.consolidator = consolidator

    async def serve_dns(self, req: Request, w: ResponseWriter) -> int:
        try:
            return await self.serve_next(req, w)
        except PluginError as exc:
            self._log(req, exc)
            return exc.rcode

    def _log(self, req: Request, exc: PluginError) -> None:
        text = str(exc)
        logger = log.error
        pattern = self.consolidator.match(text) if self.consolidator.patterns else None
        if pattern is not None:
            if self.consolidator.consolidate(pattern):
                return
            logger = pattern.log
        logger("%d %s %s: %s", exc.rcode, req.name, req.type_name, text)
