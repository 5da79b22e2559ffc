"""Run ``clusterdns`` as a real process, for tests of flags, signals and exit codes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

STARTUP_LINE = re.compile(r"^(\S+):(\d+)( on \S+)?$")
DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass
class ServerProcess:
    """A running ``python -m clusterdns`` and the lines it printed so far."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)  # zone -> port, from startup lines

    @property
    def port(self) -> int:
        ports = set(self.ports.values())
        assert len(ports) == 1, self.ports
        return ports.pop()

    async def read_line(self, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> str:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not raw:
            raise EOFError("clusterdns closed its output:\n" + "\n".join(self.lines))
        line = raw.decode().rstrip("\n")
        self.lines.append(line)
        return line

    async def wait_for_line(self, pattern: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> str:
        """Read output until a line matches ``pattern`` (a regular expression)."""
        regex = re.compile(pattern)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))
            line = await self.read_line(remaining)
            if regex.search(line):
                return line

    async def wait_started(self, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        """Read the startup lines up to the version line; record each zone's port."""
        while True:
            line = await self.read_line(timeout)
            match = STARTUP_LINE.match(line)
            if match and not line.startswith("["):
                self.ports[match.group(1)] = int(match.group(2))
            if line.startswith("clusterdns-"):
                return

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    async def wait(self, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> int:
        """Wait for exit, collecting the remaining output; return the exit code."""
        assert self.process.stdout is not None
        rest = await asyncio.wait_for(self.process.stdout.read(), timeout)
        self.lines.extend(rest.decode().splitlines())
        return await asyncio.wait_for(self.process.wait(), timeout)


@asynccontextmanager
async def clusterdns_process(
    *args: str, stdin: bytes | None = None, cwd: str | None = None
) -> AsyncIterator[ServerProcess]:
    """Start ``python -m clusterdns ARGS``; kill it on exit if it still runs."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "clusterdns", *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=cwd,
        env=env,
    )
    if stdin is not None:
        assert process.stdin is not None
        process.stdin.write(stdin)
        process.stdin.close()
    server = ServerProcess(process)
    try:
        yield server
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), DEFAULT_TIMEOUT_SECONDS)
