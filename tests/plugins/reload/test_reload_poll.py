"""reload against a real server on loopback: a ConfigMap-style edit is picked up within the
interval while queries keep flowing; broken, comment-only and imported-file edits; metrics.

The Corefile is read through the CLI's own loader, from a directory laid out the way kubelet
updates a ConfigMap volume. The interval is 300 ms (the tests lower CoreDNS's 2 s minimum).
"""

from __future__ import annotations

import asyncio
import importlib
import io
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from clusterdns.cli import corefile_loader
from clusterdns.metrics import REGISTRY
from clusterdns.plugins.reload.reload import Poller, poller_of
from clusterdns.server.runtime import Runtime
from clusterdns.testing import query

reload_setup = importlib.import_module("clusterdns.plugins.reload.setup")
Until = Callable[..., Awaitable[None]]
INTERVAL_SECONDS = 0.3
NAME = "www.example.org"


def good(last: int, *, reload: str = "reload 300ms 0s") -> str:
    return f".:0 {{\n    {reload}\n    hosts {{\n        10.0.0.{last} {NAME}\n    }}\n}}\n"


@pytest.fixture(autouse=True)
def fast_reload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reload_setup, "MIN_INTERVAL_NS", 10_000_000)
    monkeypatch.setattr(reload_setup, "MIN_JITTER_NS", 10_000_000)


class ConfigMapVolume:
    """A directory as kubelet's AtomicWriter keeps a ConfigMap volume.

    ``..2024_..`` holds the data, ``..data`` is a symlink to it, and each key is a symlink
    ``KEY -> ..data/KEY``. An update writes a new timestamped directory, points ``..data_tmp``
    at it, renames that over ``..data`` (atomic), then removes the old directory.
    """

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.root = root
        self.generation = 0
        self.update(files)

    def update(self, files: dict[str, str]) -> None:
        self.generation += 1
        old = os.readlink(self.root / "..data") if (self.root / "..data").is_symlink() else None
        new = self.root / f"..2024_01_01_00_00_00.{self.generation:09d}"
        new.mkdir()
        for key, text in files.items():
            (new / key).write_text(text)
        os.symlink(new.name, self.root / "..data_tmp")
        os.rename(self.root / "..data_tmp", self.root / "..data")
        for key in files:
            if not (self.root / key).is_symlink():
                os.symlink(f"..data/{key}", self.root / key)
        if old is not None:
            shutil.rmtree(self.root / old)

    @property
    def corefile(self) -> str:
        return str(self.root / "Corefile")


@asynccontextmanager
async def serving(path: str) -> AsyncIterator[Runtime]:
    """clusterdns as the CLI runs it for ``-conf PATH`` (its loader), on a free port."""
    source, loader = corefile_loader(path, "0", sys.stdin)
    runtime = Runtime(loader, default_port="0", out=io.StringIO())  # type: ignore[arg-type]
    await runtime.start(runtime.build(source))
    try:
        yield runtime
    finally:
        await runtime.stop()


class Load:
    """Concurrent UDP queries until stopped (at most ``limit``); every failure is kept."""

    def __init__(self, port: int, *, workers: int = 4, limit: int = 50_000) -> None:
        self.port = port
        self.limit = limit
        self.ok = 0
        self.failures: list[str] = []
        self.answers: set[str] = set()
        self.last = ""
        self._stop = asyncio.Event()
        self.task = asyncio.gather(*(self._worker() for _ in range(workers)))

    async def _worker(self) -> None:
        while not self._stop.is_set() and self.ok + len(self.failures) < self.limit:
            try:
                reply = await query(self.port, NAME, timeout=2.0)
            except Exception as exc:  # a timeout is a lost query
                self.failures.append(repr(exc))
                continue
            answer = [r.to_text() for rrset in reply.answer for r in rrset]
            if reply.rcode() != 0 or len(answer) != 1:
                self.failures.append(f"rcode {reply.rcode()} answer {answer}")
                continue
            self.ok += 1
            self.last = answer[0]
            self.answers.add(answer[0])

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(self.task, 10)


async def answer(port: int) -> list[str]:
    reply = await query(port, NAME)
    return [r.to_text() for rrset in reply.answer for r in rrset]


def poller(runtime: Runtime) -> Poller:
    found = poller_of(runtime.instance)
    assert found is not None
    return found


async def checks_pass(runtime: Runtime, until: Until, count: int = 3) -> None:
    """Wait until the poller has completed ``count`` more checks (no fixed sleep)."""
    current = poller(runtime)
    target = current.checks + count
    await until(lambda: _true(current.checks >= target), timeout=10)


def failed_total() -> float:
    return REGISTRY.get_sample_value("coredns_reload_failed_total") or 0.0


def version_info(value: str) -> float | None:
    return REGISTRY.get_sample_value(
        "coredns_reload_version_info", {"hash": "sha512", "value": value}
    )


async def _true(value: bool) -> bool:
    return value


# --- the tests ----------------------------------------------------------------------------


async def test_configmap_update_is_picked_up_within_the_interval_without_losing_a_query(
    tmp_path: Path, until: Until, log_lines: list[str]
) -> None:
    volume = ConfigMapVolume(tmp_path, {"Corefile": good(1)})
    async with serving(volume.corefile) as runtime:
        port = runtime.port()
        old = runtime.instance
        assert old is not None
        old_poller = poller(runtime)
        load = Load(port)
        try:
            await until(lambda: _true(load.ok >= 50), timeout=10)
            loop = asyncio.get_running_loop()
            edited = loop.time()
            volume.update({"Corefile": good(2)})
            await until(lambda: _true(load.last == "10.0.0.2"), timeout=10)
            elapsed = loop.time() - edited
            after = load.ok
            await until(lambda: _true(load.ok >= after + 200), timeout=10)
        finally:
            await load.stop()
        assert load.failures == []  # no query lost, refused or failed during the swap
        assert load.answers == {"10.0.0.1", "10.0.0.2"}
        assert elapsed < INTERVAL_SECONDS + 1.0  # one interval, plus the time to build
        new = runtime.instance
        assert new is not old and runtime.port() == port  # same sockets
        assert old_poller._task is None  # stopped by the reload it started, no deadlock
        assert poller(runtime)._task is not None
        await until(lambda: _true(f"Running configuration SHA512 = {new.checksum}" in
                                  "\n".join(log_lines)))
    assert [line for line in log_lines if "Running configuration" in line] == [
        f"[INFO] plugin/reload: Running configuration SHA512 = {old.checksum}",
        f"[INFO] plugin/reload: Running configuration SHA512 = {new.checksum}",
    ]
    assert not [line for line in log_lines if line.startswith(("[ERROR]", "[WARNING]"))]


@pytest.mark.parametrize(
    ("broken", "error"),
    [
        (
            ".:0 {{\n    reload 300ms 0s\n    hosts {{\n        10.0.0.2 {name}\n    }}\n"
            "    nosuchplugin\n}}\n",
            "{path}:6 - Error during parsing: Unknown directive 'nosuchplugin'",
        ),
        (
            ".:0 {{\n    reload 300ms 0s\n    whoami extra\n}}\n",
            "plugin/whoami: {path}:3 - Error during parsing: "
            "Wrong argument count or unexpected line ending after 'extra'",
        ),
    ],
    ids=["unknown-directive", "setup-error"],
)
async def test_broken_edit_keeps_serving_logs_counts_and_is_not_retried(
    tmp_path: Path, until: Until, log_lines: list[str], broken: str, error: str
) -> None:
    volume = ConfigMapVolume(tmp_path, {"Corefile": good(1)})
    error = error.format(path=volume.corefile)
    async with serving(volume.corefile) as runtime:
        port = runtime.port()
        running = runtime.instance
        before = failed_total()
        volume.update({"Corefile": broken.format(name=NAME)})
        await until(lambda: _true(failed_total() == before + 1), timeout=10)
        assert await answer(port) == ["10.0.0.1"]
        assert runtime.instance is running
        errors = [line for line in log_lines if line.startswith("[ERROR]")]
        assert errors == [
            f"[ERROR] Restart failed: {error}",
            f"[ERROR] plugin/reload: Corefile changed but reload failed: {error}",
        ]
        await checks_pass(runtime, until, 3)  # the same bad file is seen again, not retried
        assert failed_total() == before + 1
        assert [line for line in log_lines if line.startswith("[ERROR]")] == errors
        assert version_info(running.checksum) == 1  # still the configuration that runs

        volume.update({"Corefile": good(3)})  # fixed: reloads
        await until(lambda: _true(runtime.instance is not running), timeout=10)
        assert await answer(port) == ["10.0.0.3"]
        assert failed_total() == before + 1


async def test_comment_and_whitespace_edits_do_not_reload(
    tmp_path: Path, until: Until, log_lines: list[str]
) -> None:
    volume = ConfigMapVolume(tmp_path, {"Corefile": good(1)})
    async with serving(volume.corefile) as runtime:
        running = runtime.instance
        volume.update({"Corefile": "# the cluster's DNS\n\n" + good(1).replace("    ", "\t")
                       .replace(NAME, NAME + "   # the web server") + "\n# end\n"})
        await checks_pass(runtime, until, 3)
        assert runtime.instance is running
    assert len([line for line in log_lines if "Running configuration" in line]) == 1


async def test_an_imported_file_edit_reloads(tmp_path: Path, until: Until) -> None:
    corefile = ".:0 {\n    reload 300ms 0s\n    import hosts.conf\n}\n"
    hosts = "hosts {{\n    10.0.0.{last} " + NAME + "\n}}\n"
    volume = ConfigMapVolume(tmp_path, {"Corefile": corefile, "hosts.conf": hosts.format(last=1)})
    async with serving(volume.corefile) as runtime:
        port = runtime.port()
        assert await answer(port) == ["10.0.0.1"]
        running = runtime.instance
        volume.update({"Corefile": corefile, "hosts.conf": hosts.format(last=2)})
        await until(lambda: _true(runtime.instance is not running), timeout=10)
        assert await answer(port) == ["10.0.0.2"]


async def test_version_info_shows_only_the_running_checksum(tmp_path: Path, until: Until) -> None:
    volume = ConfigMapVolume(tmp_path, {"Corefile": good(1)})
    async with serving(volume.corefile) as runtime:
        first = runtime.instance
        assert first is not None
        await until(lambda: _true(version_info(first.checksum) == 1))
        volume.update({"Corefile": good(2)})
        await until(lambda: _true(runtime.instance is not first), timeout=10)
        second = runtime.instance
        assert second is not None and second.checksum != first.checksum
        await until(lambda: _true(version_info(second.checksum) == 1))
        assert version_info(first.checksum) is None
        samples = [
            s for metric in REGISTRY.collect() if metric.name == "coredns_reload_version_info"
            for s in metric.samples
        ]
        assert [(s.labels, s.value) for s in samples] == [
            ({"hash": "sha512", "value": second.checksum}, 1.0)
        ]


async def test_a_corefile_that_does_not_parse_is_warned_about_on_every_check(
    tmp_path: Path, until: Until, log_lines: list[str]
) -> None:
    volume = ConfigMapVolume(tmp_path, {"Corefile": good(1)})
    async with serving(volume.corefile) as runtime:
        running = runtime.instance
        before = failed_total()
        volume.update({"Corefile": ".:0 {\n    reload 300ms 0s\n    hosts {\n"})
        await until(
            lambda: _true(sum("Corefile parse failed" in line for line in log_lines) >= 2),
            timeout=10,
        )
        assert runtime.instance is running and failed_total() == before
        assert await answer(runtime.port()) == ["10.0.0.1"]
    warnings = [line for line in log_lines if line.startswith("[WARNING]")]
    assert warnings[0] == (
        f"[WARNING] plugin/reload: Corefile parse failed: {volume.corefile}:3 - "
        "Error during parsing: Unexpected EOF"
    )


async def test_removing_reload_stops_polling(tmp_path: Path, until: Until) -> None:
    volume = ConfigMapVolume(tmp_path, {"Corefile": good(1)})
    async with serving(volume.corefile) as runtime:
        running = runtime.instance
        old_poller = poller(runtime)
        volume.update({"Corefile": good(2).replace("    reload 300ms 0s\n", "")})
        await until(lambda: _true(runtime.instance is not running), timeout=10)
        assert poller_of(runtime.instance) is None
        assert old_poller._task is None


async def test_the_interval_of_the_new_corefile_applies_after_a_reload(
    tmp_path: Path, until: Until
) -> None:
    volume = ConfigMapVolume(tmp_path, {"Corefile": good(1)})
    async with serving(volume.corefile) as runtime:
        running = runtime.instance
        volume.update({"Corefile": good(2, reload="reload 250ms 100ms")})
        await until(lambda: _true(runtime.instance is not running), timeout=10)
        interval = poller(runtime).interval_ns
        assert interval is not None and 200_000_000 <= interval < 300_000_000


async def test_a_sigusr1_style_reload_hands_polling_to_the_new_instance(
    tmp_path: Path, until: Until
) -> None:
    volume = ConfigMapVolume(tmp_path, {"Corefile": good(1)})
    async with serving(volume.corefile) as runtime:
        old_poller = poller(runtime)
        volume.update({"Corefile": good(2)})
        await runtime.reload()  # what SIGUSR1 does, racing the poller
        assert old_poller._task is None
        assert await answer(runtime.port()) == ["10.0.0.2"]
        current = runtime.instance
        await checks_pass(runtime, until, 2)  # the new poller sees no change: no second reload
        assert runtime.instance is current


async def test_a_reload_that_cannot_bind_a_new_health_port_keeps_the_old_endpoint(
    tmp_path: Path, until: Until, get: Callable[..., Awaitable[Any]], log_lines: list[str]
) -> None:
    """CoreDNS's README "Bugs": there the old health listener is closed before the new port
    fails to bind. Here HTTP servers outlive the instance, so the old endpoint keeps answering."""
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    busy_port = taken.getsockname()[1]
    try:
        text = good(1).replace("    hosts", "    health 127.0.0.1:0\n    hosts")
        volume = ConfigMapVolume(tmp_path, {"Corefile": text})
        async with serving(volume.corefile) as runtime:
            health_port = runtime.http.port("127.0.0.1:0")
            assert (await get(health_port, "/health")).status == 200
            running = runtime.instance
            before = failed_total()
            volume.update({"Corefile": text.replace("127.0.0.1:0", f"127.0.0.1:{busy_port}")})
            await until(lambda: _true(failed_total() == before + 1), timeout=10)
            assert runtime.instance is running
            assert (await get(health_port, "/health")).status == 200
            assert await answer(runtime.port()) == ["10.0.0.1"]
    finally:
        taken.close()
    assert any(line.startswith("[ERROR] plugin/reload: Corefile changed but reload failed: ")
               for line in log_lines)
