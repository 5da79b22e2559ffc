"""The startup probe against a real server on loopback: sent to the bound port, answered once,
then the plugin disables itself; retries and the 30 s window; a new probe after a reload."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from clusterdns.plugins.loop import loop as loop_module
from clusterdns.plugins.loop import probe as probe_module
from clusterdns.plugins.loop.loop import Loop
from clusterdns.plugins.loop.probe import Probe, exchange, probe_host
from clusterdns.server.config import BlockConfig, ListenAddress
from clusterdns.testing import query, run_corefile

Until = Callable[..., Awaitable[None]]


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Replace the process exit so a detected loop cannot end the test run."""
    codes: list[int] = []
    monkeypatch.setattr(loop_module, "exit_process", codes.append)
    yield codes


def loop_of(srv) -> Loop:  # type: ignore[no-untyped-def]
    (handler,) = srv.runtime.instance.handlers("loop")
    return handler


async def test_sane_corefile_probe_is_answered_and_the_plugin_disables_itself(
    exits: list[int], until: Until, log_lines: list[str]
) -> None:
    async with run_corefile(". {\n loop\n whoami\n}\n") as srv:
        handler = loop_of(srv)
        await until(lambda: _true(handler.disabled))
        assert handler.seen == 1  # the probe arrived exactly once, on the bound port
        assert handler.address == f":{srv.port}"
        for _ in range(5):  # disabled: even the probe name only passes through now
            reply = await query(srv.port, handler.qname, "HINFO")
            assert reply.rcode() == 0
        assert handler.seen == 1
    assert exits == []
    assert not [line for line in log_lines if "plugin/loop" in line]


async def test_probe_goes_to_the_first_listen_address(exits: list[int], until: Until) -> None:
    async with run_corefile("example.org {\n bind 127.0.0.1\n loop\n whoami\n}\n") as srv:
        handler = loop_of(srv)
        await until(lambda: _true(handler.disabled))
        assert handler.address == f"127.0.0.1:{srv.port}"
        assert handler.seen == 1 and handler.zone == "example.org."
        assert handler.qname.endswith(".example.org.")
    assert exits == []


async def test_every_block_probes_its_own_first_zone(exits: list[int], until: Until) -> None:
    async with run_corefile(
        "a.example {\n loop\n whoami\n}\nb.example {\n loop\n whoami\n}\n"
    ) as srv:
        first, second = srv.runtime.instance.handlers("loop")
        await until(lambda: _true(first.disabled and second.disabled))
        assert (first.seen, second.seen) == (1, 1)
        assert first.qname.endswith(".a.example.") and second.qname.endswith(".b.example.")
    assert exits == []


async def test_a_reload_probes_again_with_a_new_name(
    exits: list[int], until: Until, tmp_path: Path
) -> None:
    async with run_corefile(".:0 {\n loop\n whoami\n}\n", directory=str(tmp_path)) as srv:
        old = loop_of(srv)
        await until(lambda: _true(old.disabled))
        await srv.runtime.reload()
        new = loop_of(srv)
        assert new is not old and new.qname != old.qname
        await until(lambda: _true(new.disabled))
        assert new.seen == 1 and old.seen == 1
    assert exits == []


# --- the exchange and the retry window, against a socket that never answers -----------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A bound UDP socket on loopback that reads nothing and answers nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


async def test_exchange_times_out_without_a_reply(silent_port: int) -> None:
    with pytest.raises(TimeoutError):
        await exchange("127.0.0.1", silent_port, "1.2.", 0.05)


async def test_exchange_returns_any_reply(exits: list[int]) -> None:
    async with run_corefile(". {\n whoami\n}\n") as srv:
        reply = await exchange("127.0.0.1", srv.port, "1.2.", 2.0)
    assert reply[3] & 0x0F == 0  # whoami answered NOERROR; any rcode would do


@pytest.mark.parametrize(("host", "target"), [("", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"),
                                              ("::", "::1"), ("127.0.0.2", "127.0.0.2")])
def test_probe_host(host: str, target: str) -> None:
    assert probe_host(host) == target


def silent_probe(port: int) -> Probe:
    """A probe of an instance whose only listener is ``port`` and which is serving."""
    address = ListenAddress("dns", "127.0.0.1", 0)
    instance = SimpleNamespace(serving=asyncio.Event())
    instance.serving.set()
    instance.process = SimpleNamespace(
        instance=instance, listeners={address: SimpleNamespace(port=port)}
    )
    config = BlockConfig(index=0, zones=[], listen_hosts=["127.0.0.1"])
    config.listen_addresses = lambda: [(address, None)]  # type: ignore[method-assign]
    return Probe(Loop(None, zone="."), instance, config)  # type: ignore[arg-type]


async def test_unanswered_probe_retries_resets_and_gives_up_at_the_window(
    monkeypatch: pytest.MonkeyPatch, silent_port: int
) -> None:
    monkeypatch.setattr(probe_module, "PROBE_WINDOW_SECONDS", 0.5)
    monkeypatch.setattr(probe_module, "PROBE_TIMEOUT_SECONDS", 0.05)
    monkeypatch.setattr(probe_module, "PROBE_RETRY_SECONDS", 0.05)
    probe = silent_probe(silent_port)
    handler = probe.handler
    resets = 0

    def reset() -> None:
        nonlocal resets
        resets += 1

    handler.reset = reset  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await probe.start()
    assert probe._task is not None
    await asyncio.wait_for(probe._task, 5)
    assert handler.disabled
    assert 0.5 <= loop.time() - started < 3
    assert probe.tries >= 2 and resets == probe.tries
    assert handler.address == f"127.0.0.1:{silent_port}"


async def test_shutdown_stops_a_probe_still_retrying(
    monkeypatch: pytest.MonkeyPatch, silent_port: int, until: Until
) -> None:
    monkeypatch.setattr(probe_module, "PROBE_TIMEOUT_SECONDS", 0.05)
    probe = silent_probe(silent_port)
    await probe.start()
    task = probe._task
    assert task is not None
    await until(lambda: _true(probe.tries >= 1))
    assert not task.done() and not probe.handler.disabled
    await probe.stop()
    assert task.done() and probe.handler.disabled
    await probe.stop()  # twice is harmless


async def _true(value: bool) -> bool:
    return value
