"""``-workers N``: N server processes sharing the DNS port, for nodes with spare cores.

Why processes: one Python process answers on one core. With ``-workers N`` the first process
(the one started) starts N-1 more with the same command line; every one of them runs the whole
server (its own plugin chains, caches and, with the kubernetes plugin, its own informers) and
binds the DNS listeners with ``SO_REUSEPORT``, so the kernel spreads queries over them.

What it costs: N times the memory, and N list/watch streams per resource against the API
server. Only the first worker serves HTTP (``health``, ``ready``, ``prometheus``), so its
metrics count its own share of the queries. The first worker forwards SIGTERM, SIGINT and
SIGUSR1 to the others and waits for them when it stops; a worker whose parent is gone stops
too. Listen addresses need a fixed port (with port 0 each worker would get its own).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Final

from .log import core_logger

#: Set in the environment of the extra workers to their number (1..N-1), and to the pid of
#: the first worker (which may be gone before the extra one even looks).
WORKER_ENV: Final = "CLUSTERDNS_WORKER"
PARENT_ENV: Final = "CLUSTERDNS_WORKER_PARENT"
#: How long the first worker waits for the others to stop before killing them.
STOP_TIMEOUT_SECONDS: Final = 30.0
_PARENT_POLL_SECONDS: Final = 1.0
log = core_logger()


def worker_number() -> int:
    """0 in the process started by the user, 1..N-1 in the ones it started."""
    text = os.environ.get(WORKER_ENV, "")
    return int(text) if text.isdigit() else 0


class Workers:
    """The extra worker processes, as seen from the first."""

    def __init__(self) -> None:
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(self, count: int, argv: list[str]) -> None:
        """Start workers 1..count-1 with ``argv`` (the first worker's own arguments)."""
        for number in range(1, count):
            env = dict(os.environ, **{WORKER_ENV: str(number), PARENT_ENV: str(os.getpid())})
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "clusterdns", *argv,
                stdin=asyncio.subprocess.DEVNULL, env=env,
            )  # fmt: skip
            self.processes.append(process)

    def signal(self, signum: int) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.send_signal(signum)

    async def wait(self) -> None:
        """Wait for every worker to exit (killed after ``STOP_TIMEOUT_SECONDS``); call after
        ``signal(SIGTERM)``, so that all workers run their lameduck at the same time."""
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()


async def stop_when_orphaned(stop: Callable[[], Awaitable[None]]) -> None:
    """In an extra worker: ``stop`` once the first worker is gone (this one reparented)."""
    text = os.environ.get(PARENT_ENV, "")
    parent = int(text) if text.isdigit() else os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(_PARENT_POLL_SECONDS)
    log.info("first worker gone: shutting down")
    await stop()
