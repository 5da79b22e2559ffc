"""The *reload* poller: re-read the Corefile every interval and reload when its parsed form changed.

What is compared is the SHA-512 of the *parsed* Corefile (``Instance.checksum``): imports are
expanded and env references substituted, so an edit in an imported file reloads while a
comment or whitespace edit does not. The file is re-read through the runtime's own loader on
every check, so a Kubernetes ConfigMap volume works: kubelet writes a new timestamped
directory and renames the ``..data`` symlink onto it atomically, and ``Corefile`` is a symlink
to ``..data/Corefile``; each open follows the links to the new content.

On a change the runtime builds a new instance beside the old one and swaps it in on the same
sockets (``Runtime.reload``), so no query is lost or refused. If that fails the old instance
keeps serving, CoreDNS's two ERROR lines are logged, ``coredns_reload_failed_total`` grows, and
the failed checksum is remembered so the same bad file is not tried again. A Corefile that
does not even parse is only warned about, on every check, as CoreDNS does.

A successful reload shuts the old instance down, which stops the poller that started the
reload while it is still waiting for it. The reload therefore runs in a task of its own that
survives the poller's cancellation; the new instance brings its own poller.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from clusterdns.corefile import parse
from clusterdns.errors import ClusterDNSError
from clusterdns.log import core_logger, plugin_logger
from clusterdns.server.instance import CorefileSource, checksum

from .metrics import FAILED, VERSION_INFO

if TYPE_CHECKING:
    from clusterdns.server.instance import Instance

_STOP_TIMEOUT_SECONDS: Final = 5.0
log = plugin_logger("reload")
core_log = core_logger()

_POLLERS: weakref.WeakKeyDictionary[Instance, Poller] = weakref.WeakKeyDictionary()
#: Reloads in flight; referenced here because the poller that started one may be gone.
_RELOADS: set[asyncio.Task[None]] = set()


class _EveryDirective:
    """Accepts any directive name: caddy's reload parse passes no list of valid directives,
    so an unknown directive changes the checksum and fails in the reload itself (two ERROR
    lines, counted), not in this parse (a WARNING)."""

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def corefile_checksum(source: CorefileSource) -> str:
    """SHA-512 of the parsed Corefile, the same value ``Instance.checksum`` holds."""
    known = _EveryDirective()
    blocks = parse(source.text, source.path, known_directives=known)  # type: ignore[arg-type]
    return checksum(blocks)


def poller_for(instance: Instance) -> Poller:
    """The poller of ``instance``, created on first use (one per instance, not per block)."""
    poller = _POLLERS.get(instance)
    if poller is None:
        poller = _POLLERS[instance] = Poller(instance)
    return poller


def poller_of(instance: Instance | None) -> Poller | None:
    """The poller of ``instance`` if its Corefile loads *reload* (for tests and tooling)."""
    return None if instance is None else _POLLERS.get(instance)


class Poller:
    """Checks one instance's Corefile every interval while that instance is serving."""

    def __init__(self, instance: Instance) -> None:
        # Weak: the registry maps instance -> poller, so a strong reference back would keep
        # every replaced instance alive.
        self._instance = weakref.ref(instance)
        self.runtime = instance.process
        self.running = instance.checksum
        self.interval_ns: int | None = None  # set by setup; the last block's value
        #: the checksum last seen: the running one, or the last one that failed to load
        self.last = instance.checksum
        self.checks = 0  # completed checks, for tests
        self._task: asyncio.Task[None] | None = None

    @property
    def interval_seconds(self) -> float:
        assert self.interval_ns is not None
        return self.interval_ns / 1e9

    async def start(self) -> None:
        """Startup hook: poll in the background from the moment this instance serves."""
        self._task = asyncio.create_task(self._supervise(), name="reload poller")

    async def stop(self) -> None:
        """Shutdown hook (this instance replaced, or the process stops); safe to call twice.

        A reload in flight is not waited for: it is what calls this hook.
        """
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait([task], timeout=_STOP_TIMEOUT_SECONDS)

    async def _supervise(self) -> None:
        """Announce the running configuration, then check forever; a bug is logged, never fatal.

        The first wait ends when the instance serves, or by cancellation when its start or
        reload fails (the runtime then runs its shutdown hooks).
        """
        await self._instance().serving.wait()
        self._announce()
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # supervised: never let the poller die silently
                log.error("Checking the Corefile failed unexpectedly: %r", exc)
            self.checks += 1

    def _announce(self) -> None:
        digest = self.running
        log.info("Running configuration SHA512 = %s", digest)
        VERSION_INFO.clear()
        VERSION_INFO.labels("sha512", digest).set(1)

    async def check(self) -> None:
        """Re-read and re-parse the Corefile; reload when its checksum is new."""
        try:
            source = await asyncio.to_thread(self.runtime.loader)
        except OSError:
            return  # e.g. between the kubelet's writes; the next check sees it (CoreDNS: silent)
        try:
            digest = await asyncio.to_thread(corefile_checksum, source)
        except ClusterDNSError as exc:
            log.warning("Corefile parse failed: %s", exc)
            return
        if digest == self.last:
            return
        self.last = digest  # a file that fails to load is not tried again
        if self.runtime.shutting_down:
            return
        task = asyncio.create_task(self._reload(source), name="reload")
        _RELOADS.add(task)
        task.add_done_callback(_RELOADS.discard)
        await asyncio.shield(task)  # on success this poller is cancelled here; the task goes on

    async def _reload(self, source: CorefileSource) -> None:
        try:
            await self.runtime.reload(source)
        except Exception as exc:
            core_log.error("Restart failed: %s", exc)
            log.error("Corefile changed but reload failed: %s", exc)
            FAILED.inc()
