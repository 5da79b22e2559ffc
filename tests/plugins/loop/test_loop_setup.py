"""loop's Corefile syntax, the zone it watches, its probe name, and the resolv.conf hint decision."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clusterdns import registry
from clusterdns.controller import Controller
from clusterdns.corefile import Dispenser, parse, parse_key
from clusterdns.errors import PluginSetupError
from clusterdns.plugins.loop.hint import (
    LoopbackUpstream,
    forward_lines,
    hint_text,
    loopback_upstreams,
    resolv_conf_nameservers,
)
from clusterdns.plugins.loop.loop import RANDOM_LABEL_LIMIT, probe_name
from clusterdns.plugins.loop.setup import LoopOptions
from clusterdns.plugins.loop.setup import parse as parse_loop
from clusterdns.server.config import BlockConfig
from clusterdns.server.instance import CorefileSource
from clusterdns.server.runtime import Runtime

KNOWN_WITH_FORWARD = [*registry.names(), "forward"]  # forward may not be registered yet


def controller(keys: list[str], body: str = "loop") -> Controller:
    text = f"{' '.join(keys) or '.'} {{\n{body}\n}}\n"
    block = parse(text, "Corefile", known_directives=registry.names())[0]
    zones = [zone for key in keys for zone in parse_key(key, "53")]
    return Controller(
        directive="loop",
        dispenser=Dispenser(block.tokens("loop"), file="Corefile"),
        config=BlockConfig(index=0, zones=zones),
        instance=None,  # type: ignore[arg-type]  # parse() never looks at the instance
    )


@pytest.mark.parametrize(
    ("keys", "zone"),
    [
        ([], "."),
        (["."], "."),
        (["example.org"], "example.org."),
        (["Example.ORG:1053"], "example.org."),
        (["dns://example.net:53"], "example.net."),
        (["b.example", "a.example"], "b.example."),  # the first key only
        (["10.0.0.0/8"], "10.in-addr.arpa."),
    ],
)
def test_parse_watches_the_first_key_zone(keys: list[str], zone: str) -> None:
    assert parse_loop(controller(keys)) == LoopOptions(zone=zone)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "loop argument",
            "plugin/loop: Corefile:2 - Error during parsing: "
            "Wrong argument count or unexpected line ending after 'argument'",
        ),
        ("loop\nloop", "plugin/loop: this plugin can only be used once per Server Block"),
    ],
    ids=["argument", "twice"],
)
def test_setup_errors(body: str, message: str) -> None:
    runtime = Runtime(lambda: CorefileSource(f".:0 {{\n{body}\n}}\n", "Corefile"))
    with pytest.raises(PluginSetupError) as caught:
        runtime.build()
    assert str(caught.value) == message


def test_setup_adds_the_handler_to_the_chain_and_the_probe_hooks() -> None:
    runtime = Runtime(lambda: CorefileSource("example.org:0 {\n loop\n whoami\n}\n", "Corefile"))
    instance = runtime.build()
    (handler,) = instance.handlers("loop")
    assert handler.zone == "example.org."
    assert handler.next is instance.blocks[0].handlers["whoami"]
    assert handler.hint == ""
    assert len(instance.startup_hooks) == 1 and len(instance.shutdown_hooks) == 1


@pytest.mark.parametrize(("zone", "suffix"), [(".", ""), ("example.org.", "example.org.")])
def test_probe_name_is_two_random_62_bit_integers_under_the_zone(zone: str, suffix: str) -> None:
    names = {probe_name(zone) for _ in range(50)}
    assert len(names) == 50
    for name in names:
        match = re.fullmatch(r"(\d+)\.(\d+)\." + re.escape(suffix), name)
        assert match, name
        assert all(int(label) < RANDOM_LABEL_LIMIT for label in match.groups())


# --- the resolv.conf hint (beyond CoreDNS) --------------------------------------------------


def block_of(text: str):  # type: ignore[no-untyped-def]
    return parse(text, "Corefile", known_directives=KNOWN_WITH_FORWARD)[0]


@pytest.fixture
def resolved_conf(tmp_path: Path) -> Path:
    """A node resolv.conf as systemd-resolved writes it (the stub at 127.0.0.53)."""
    path = tmp_path / "resolv.conf"
    path.write_text(
        "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n"
        "; a comment\n"
        "nameserver 127.0.0.53\n"
        "options edns0 trust-ad\n"
        "search .\n"
    )
    return path


@pytest.fixture
def real_conf(tmp_path: Path) -> Path:
    path = tmp_path / "real-resolv.conf"
    path.write_text("nameserver 192.0.2.53\nnameserver 2001:db8::53\n")
    return path


def test_resolv_conf_nameservers_read_like_miekg(resolved_conf: Path) -> None:
    assert resolv_conf_nameservers(str(resolved_conf)) == ["127.0.0.53"]


def test_forward_lines_skip_option_blocks() -> None:
    block = block_of(
        ". {\n forward . 10.0.0.1 10.0.0.2 {\n  max_fails 3\n  policy sequential\n }\n"
        " forward example.org 10.0.0.3\n}\n"
    )
    assert forward_lines(block) == [(".", ["10.0.0.1", "10.0.0.2"]), ("example.org", ["10.0.0.3"])]


def test_loopback_nameserver_from_a_resolv_conf_is_found(resolved_conf: Path) -> None:
    block = block_of(f". {{\n loop\n forward . {resolved_conf} {{\n  max_concurrent 1000\n }}\n}}\n")
    assert loopback_upstreams(block, "1.2.") == [LoopbackUpstream("127.0.0.53", str(resolved_conf))]


@pytest.mark.parametrize("nameserver", ["127.0.0.1", "127.1.2.3", "::1", "127.0.0.53"])
def test_every_loopback_address_counts(tmp_path: Path, nameserver: str) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(f"nameserver 192.0.2.1\nnameserver {nameserver}\n")
    block = block_of(f". {{\n forward . {conf}\n}}\n")
    assert loopback_upstreams(block, "1.2.") == [LoopbackUpstream(nameserver, str(conf))]


@pytest.mark.parametrize(
    "forward",
    [
        "forward . 127.0.0.1",  # a loopback IP written in the Corefile: no resolv.conf involved
        "forward . 127.0.0.53:53",
        "forward . [::1]:53",
        "forward . dns://127.0.0.1",
        "forward . {real}",  # a resolv.conf without loopback nameservers
        "forward example.org {resolved}",  # does not carry the probe of zone "."
        "forward . tls://{resolved}",  # only plain dns upstreams can be us on port 53
        "forward . /nonexistent/resolv.conf",
    ],
)
def test_no_hint_without_a_loopback_resolv_conf_upstream(
    forward: str, resolved_conf: Path, real_conf: Path
) -> None:
    line = forward.format(resolved=resolved_conf, real=real_conf)
    assert loopback_upstreams(block_of(f". {{\n loop\n {line}\n}}\n"), "1.2.") == []


def test_no_hint_without_forward() -> None:
    assert loopback_upstreams(block_of(". {\n loop\n whoami\n}\n"), "1.2.") == []


def test_forward_from_must_cover_the_probe_name(resolved_conf: Path) -> None:
    block = block_of(f"example.org {{\n loop\n forward example.org {resolved_conf}\n}}\n")
    assert loopback_upstreams(block, "1.2.example.org.") != []
    assert loopback_upstreams(block, "1.2.example.net.") == []


def test_the_first_loopback_upstream_of_several_forwards_is_named(
    resolved_conf: Path, real_conf: Path
) -> None:
    block = block_of(
        f". {{\n forward example.org 10.0.0.1\n forward . 10.0.0.9 {real_conf} {resolved_conf}\n}}\n"
    )
    assert loopback_upstreams(block, "1.2.") == [LoopbackUpstream("127.0.0.53", str(resolved_conf))]


def test_hint_text_names_the_upstream_its_file_and_the_fix() -> None:
    assert hint_text(LoopbackUpstream("127.0.0.53", "/etc/resolv.conf")) == (
        " (the upstream 127.0.0.53 comes from /etc/resolv.conf: a loopback resolver such as"
        " systemd-resolved's; point forward at the real upstream, e.g."
        " /run/systemd/resolve/resolv.conf, or give the DNS pod a resolv.conf without loopback"
        " nameservers)"
    )


@pytest.mark.skipif("forward" not in registry.names(), reason="forward is not registered yet")
def test_setup_reads_the_block_forward_and_sets_the_hint(resolved_conf: Path) -> None:
    text = f".:0 {{\n loop\n forward . {resolved_conf}\n}}\nexample.org:0 {{\n loop\n whoami\n}}\n"
    instance = Runtime(lambda: CorefileSource(text, "Corefile")).build()
    first, second = instance.handlers("loop")
    assert first.hint == hint_text(LoopbackUpstream("127.0.0.53", str(resolved_conf)))
    assert second.hint == ""
