"""Start a real clusterdns on loopback from a Corefile string, for tests."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ..server.instance import CorefileSource
from ..server.runtime import Runtime


@dataclass
class RunningServer:
    """A started runtime and where to reach it."""

    runtime: Runtime
    out: io.StringIO
    path: str

    @property
    def port(self) -> int:
        return self.runtime.port()

    @property
    def addr(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def write_corefile(self, text: str) -> None:
        """Replace the Corefile the runtime reloads from."""
        with open(self.path, "w", encoding="utf-8") as file:
            file.write(text)


@asynccontextmanager
async def run_corefile(
    text: str, *, directory: str | None = None, default_port: str = "0"
) -> AsyncIterator[RunningServer]:
    """Serve ``text`` until the block exits. Keys without a port get ``default_port``.

    With ``directory`` the Corefile is written there (so reloads and relative imports work);
    otherwise it is served from memory.
    """
    path = "Corefile"
    if directory is not None:
        path = os.path.join(directory, "Corefile")
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)

        def load() -> CorefileSource:
            with open(path, encoding="utf-8") as file:
                return CorefileSource(file.read(), path)
    else:

        def load() -> CorefileSource:
            return CorefileSource(text, path)

    out = io.StringIO()
    runtime = Runtime(load, default_port=default_port, out=out)
    await runtime.start()
    try:
        yield RunningServer(runtime, out, path)
    finally:
        await runtime.stop()
