"""reload's Corefile syntax: defaults, CoreDNS's limits and error texts, the jitter range, and
the process-wide setting (one poller per instance; the last block's value wins)."""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable

import pytest

from clusterdns.controller import Controller
from clusterdns.errors import PluginSetupError
from clusterdns.plugins.reload.reload import Poller, poller_of
from clusterdns.plugins.reload.setup import (
    DEFAULT_INTERVAL_NS,
    DEFAULT_JITTER_NS,
    ReloadOptions,
    jittered_interval_ns,
    parse,
)
from clusterdns.server.instance import CorefileSource
from clusterdns.server.runtime import Runtime

SECOND = 1_000_000_000
# the module, not the setup() function the package re-exports under the same name
reload_setup = importlib.import_module("clusterdns.plugins.reload.setup")
MakeController = Callable[[str, str], Controller]


def corefile(body: str) -> str:
    return f".:0 {{\n{body}\n    whoami\n}}\n"


def test_defaults_are_coredns_values() -> None:
    assert (DEFAULT_INTERVAL_NS, DEFAULT_JITTER_NS) == (30 * SECOND, 15 * SECOND)
    assert (reload_setup.MIN_INTERVAL_NS, reload_setup.MIN_JITTER_NS) == (2 * SECOND, SECOND)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("reload", ReloadOptions(30 * SECOND, 15 * SECOND)),
        ("reload 10s", ReloadOptions(10 * SECOND, 5 * SECOND)),  # jitter capped at INTERVAL/2
        ("reload 10s 2s", ReloadOptions(10 * SECOND, 2 * SECOND)),
        ("reload 2s 0s", ReloadOptions(2 * SECOND, 0)),
        ("reload 3s 0", ReloadOptions(3 * SECOND, 0)),
        ("reload 1m 1m", ReloadOptions(60 * SECOND, 30 * SECOND)),
        ("reload 2s 1s", ReloadOptions(2 * SECOND, SECOND)),
        ("reload 2s\nreload 5s", ReloadOptions(2 * SECOND, SECOND)),  # CoreDNS reads one line
    ],
)
def test_parse_accepts(controller: MakeController, line: str, expected: ReloadOptions) -> None:
    assert parse(controller(corefile(line), "reload")) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("reload foo", 'plugin/reload: time: invalid duration "foo"'),
        ("reload 10s foo", 'plugin/reload: time: invalid duration "foo"'),
        ("reload 10", 'plugin/reload: time: missing unit in duration "10"'),
        (
            "reload 10s 5s foo",
            "plugin/reload: Corefile:2 - Error during parsing: "
            "Wrong argument count or unexpected line ending after 'foo'",
        ),
        ("reload 1s", "plugin/reload: interval value must be greater or equal to 2s"),
        ("reload 0s", "plugin/reload: interval value must be greater or equal to 2s"),
        ("reload -5s", "plugin/reload: interval value must be greater or equal to 2s"),
        ("reload 3s 0.5s", "plugin/reload: jitter value must be 0 or greater or equal to 1s"),
        ("reload 3s -1s", "plugin/reload: jitter value must be 0 or greater or equal to 1s"),
    ],
)
def test_setup_errors(line: str, message: str) -> None:
    runtime = Runtime(lambda: CorefileSource(corefile(line), "Corefile"))
    with pytest.raises(PluginSetupError) as caught:
        runtime.build()
    assert str(caught.value) == message


def test_tests_may_lower_the_minimums(
    controller: MakeController, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reload_setup, "MIN_INTERVAL_NS", SECOND // 100)
    monkeypatch.setattr(reload_setup, "MIN_JITTER_NS", SECOND // 100)
    assert parse(controller(corefile("reload 100ms 20ms"), "reload")) == ReloadOptions(
        SECOND // 10, SECOND // 50
    )


def test_jitter_shifts_by_half_the_jitter_either_way() -> None:
    """CoreDNS's code draws from [-JITTER/2, +JITTER/2), not the README's +/- JITTER."""
    options = ReloadOptions(30 * SECOND, 15 * SECOND)

    class Lowest(random.Random):
        def randrange(self, stop: int) -> int:  # type: ignore[override]
            return 0

    class Highest(random.Random):
        def randrange(self, stop: int) -> int:  # type: ignore[override]
            return stop - 1

    assert jittered_interval_ns(options, Lowest()) == 22_500_000_000
    assert jittered_interval_ns(options, Highest()) == 37_500_000_000 - 1
    rng = random.Random(7)
    draws = {jittered_interval_ns(options, rng) for _ in range(200)}
    assert all(22_500_000_000 <= d < 37_500_000_000 for d in draws) and len(draws) > 100


def test_zero_jitter_is_the_interval() -> None:
    assert jittered_interval_ns(ReloadOptions(5 * SECOND, 0)) == 5 * SECOND


def test_one_poller_per_instance_and_the_last_block_wins() -> None:
    text = (
        "a.example:0 {\n    reload 10s 0s\n    whoami\n}\n"
        "b.example:0 {\n    reload 20s 0s\n    whoami\n}\n"
        "c.example:0 {\n    whoami\n}\n"
    )
    instance = Runtime(lambda: CorefileSource(text, "Corefile")).build()
    poller = poller_of(instance)
    assert poller is not None and poller.interval_ns == 20 * SECOND
    hooks = [h for h in instance.startup_hooks if isinstance(getattr(h, "__self__", None), Poller)]
    assert len(hooks) == 1
    assert poller.running == instance.checksum


def test_no_poller_without_reload() -> None:
    instance = Runtime(lambda: CorefileSource(".:0 {\n whoami\n}\n", "Corefile")).build()
    assert poller_of(instance) is None


def test_a_new_jitter_is_drawn_for_every_instance() -> None:
    runtime = Runtime(lambda: CorefileSource(corefile("reload 1m 30s"), "Corefile"))
    intervals = set()
    for _ in range(20):
        poller = poller_of(runtime.build())
        assert poller is not None and poller.interval_ns is not None
        intervals.add(poller.interval_ns)
    assert len(intervals) > 1
    assert all(45 * SECOND <= i < 75 * SECOND for i in intervals)
