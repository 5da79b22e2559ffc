"""Corefile syntax of *hosts* and its lifecycle (CoreDNS ``plugin/hosts/setup.go``).

::

    hosts [FILE [ZONES...]] {
        [INLINE]
        ttl SECONDS
        no_reverse
        reload DURATION
        fallthrough [ZONES...]
        fallthrough_unsupported
    }

Any block line that is not an option is an inline hosts entry, but only until ``fallthrough``
has been seen; after it such a line is an ``unknown property``. The file is read in the
startup hook and then re-read by a background task every ``reload`` interval; the task is
cancelled when the instance shuts down (a Corefile reload or process exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import stat
from typing import Final

from clusterdns.controller import Controller
from clusterdns.corefile.address import normalize_zones
from clusterdns.log import plugin_logger

from clusterdns.duration import parse_duration
from .hosts import Hosts
from .hostsfile import Hostsfile, refresh_periodically
from .options import (
    DEFAULT_PATH,
    DEFAULT_RELOAD_SECONDS,
    DEFAULT_TTL_SECONDS,
    MAX_TTL_SECONDS,
    HostsOptions,
)

log = plugin_logger("hosts")

_GO_ATOI: Final = re.compile(r"[+-]?[0-9]+")
_INT64: Final = 2**63


def _go_quote(text: str) -> str:
    """Go's ``%q`` for a path (enough for printable text)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_file(c: Controller, path: str) -> None:
    """Warn about a missing file or a directory; fail on any other stat error (as CoreDNS)."""
    d = c.dispenser
    try:
        info = os.stat(path)
    except FileNotFoundError:
        log.warning("File does not exist: %s", path)
        return
    except OSError as exc:
        reason = exc.strerror or str(exc)
        reason = reason[:1].lower() + reason[1:]
        raise d.errf("unable to access hosts file '%s': stat %s: %s", path, path, reason) from None
    if stat.S_ISDIR(info.st_mode):
        log.warning("Hosts file %s is a directory", _go_quote(path))


def parse(c: Controller) -> HostsOptions:
    """Read the ``hosts`` directive (once per block) into ``HostsOptions``."""
    d = c.dispenser
    path = DEFAULT_PATH
    origins: list[str] = []
    inline: list[str] = []
    ttl = DEFAULT_TTL_SECONDS
    reload_seconds = DEFAULT_RELOAD_SECONDS
    auto_reverse = True
    fall_zones: list[str] = []
    fallthrough_unsupported = False
    seen = 0
    while d.next():
        if seen:
            raise c.once_error()
        seen += 1
        args = d.remaining_args()
        if args:
            path, args = args[0], args[1:]
            _check_file(c, path)
        origins = normalize_zones(args, c.server_keys)
        while d.next_block():
            option = d.val()
            if option == "fallthrough":
                zones = d.remaining_args()
                fall_zones = normalize_zones(zones) if zones else ["."]
            elif option == "fallthrough_unsupported":
                if d.remaining_args():
                    raise d.arg_err()
                fallthrough_unsupported = True
            elif option == "no_reverse":
                auto_reverse = False
            elif option == "ttl":
                remaining = d.remaining_args()
                if not remaining:
                    raise d.err("ttl needs a time in second")
                if not _GO_ATOI.fullmatch(remaining[0]):
                    raise d.err("ttl needs a number of second")
                value = int(remaining[0])
                if not -_INT64 <= value < _INT64:  # Go's Atoi fails on int64 overflow
                    raise d.err("ttl needs a number of second")
                if value <= 0 or value > MAX_TTL_SECONDS:
                    raise d.err("ttl provided is invalid")
                ttl = value
            elif option == "reload":
                remaining = d.remaining_args()
                if len(remaining) != 1:
                    raise d.err("reload needs a duration (zero seconds to disable)")
                try:
                    nanoseconds = parse_duration(remaining[0])
                except ValueError:
                    raise d.errf("invalid duration for reload '%s'", remaining[0]) from None
                if nanoseconds < 0:
                    raise d.errf("invalid negative duration for reload '%s'", remaining[0])
                reload_seconds = nanoseconds / 1e9
            elif not fall_zones:
                inline.append(" ".join([option, *d.remaining_args()]))
            else:
                raise d.errf("unknown property '%s'", option)
    if fallthrough_unsupported and not fall_zones:
        raise d.err("fallthrough_unsupported requires fallthrough")
    return HostsOptions(
        path=path,
        origins=tuple(origins),
        inline=tuple(inline),
        ttl_seconds=ttl,
        reload_seconds=reload_seconds,
        auto_reverse=auto_reverse,
        fall_zones=tuple(fall_zones),
        fallthrough_unsupported=fallthrough_unsupported,
    )


class _Reloader:
    """Owns the background task that re-reads the file; started and stopped by hooks."""

    def __init__(self, hostsfile: Hostsfile, interval_seconds: float) -> None:
        self.hostsfile = hostsfile
        self.interval_seconds = interval_seconds
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.hostsfile.refresh()  # the first read, before listeners open
        if self.interval_seconds > 0:
            self.task = asyncio.create_task(
                refresh_periodically(self.hostsfile, self.interval_seconds),
                name=f"hosts reload {self.hostsfile.path}",
            )
            self.task.add_done_callback(self._died)

    def _died(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("reloading %s stopped: %s", self.hostsfile.path, task.exception())

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def setup(c: Controller) -> None:
    options = parse(c)
    hostsfile = Hostsfile(
        path=options.path,
        origins=options.origins,
        auto_reverse=options.auto_reverse,
        inline_lines=options.inline,
    )
    reloader = _Reloader(hostsfile, options.reload_seconds)
    c.on_startup(reloader.start)
    c.on_shutdown(reloader.stop)
    c.add_plugin(functools.partial(Hosts, options=options, hostsfile=hostsfile))
