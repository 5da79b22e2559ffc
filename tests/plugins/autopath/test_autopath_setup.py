"""autopath setup: what each Corefile form configures, how a resolv.conf is read, CoreDNS's
exact errors (CoreDNS's setup_test.go table and more), and the startup lookup of @PLUGIN.

Corefiles go through the real build path (parse, setup, chain) without opening sockets, except
where the startup hook (which finds the AutoPather) is what is tested.
"""

from __future__ import annotations

from pathlib import Path

import dns.rcode
import pytest

from clusterdns.errors import PluginSetupError
from clusterdns.plugins.autopath.autopath import AutoPath
from clusterdns.plugins.autopath.options import AutoPathOptions
from clusterdns.plugins.autopath.setup import read_search
from clusterdns.server.instance import CorefileSource, Instance
from clusterdns.server.runtime import Runtime
from clusterdns.testing import query, run_corefile

#: CoreDNS setup_test.go's resolv.conf.
RESOLV_CONF = "nameserver 1.2.3.4\ndomain foo.com\nsearch bar.com baz.com\noptions ndots:5\n"


def build(corefile: str) -> Instance:
    runtime = Runtime(lambda: CorefileSource(corefile, "Corefile"), default_port="0")
    return runtime.build()


def options(lines: str, keys: str = ".") -> AutoPathOptions:
    handler = build(f"{keys} {{\n{lines}\n whoami\n}}\n").blocks[0].handlers["autopath"]
    assert isinstance(handler, AutoPath)
    return handler.options


@pytest.fixture
def resolv(tmp_path: Path) -> Path:
    path = tmp_path / "resolv.conf"
    path.write_text(RESOLV_CONF)
    return path


# --- what parses, and into what ---------------------------------------------------------------


def test_plugin_form_defaults_to_the_block_keys() -> None:
    assert options("autopath @kubernetes") == AutoPathOptions(zones=(".",), plugin="kubernetes")
    assert options("autopath @kubernetes", keys="Cluster.Local example.org:53").zones == (
        "cluster.local.",
        "example.org.",
    )


@pytest.mark.parametrize(
    ("args", "zones"),
    [
        ("example.org", ("example.org.",)),
        ("10.0.0.0/8", ("10.in-addr.arpa.",)),
        ("Example.ORG dns://example.net:53 10.0.0.0/8", ("example.org.", "example.net.", "10.in-addr.arpa.")),
    ],
    ids=["zone", "cidr", "several"],
)
def test_zones_before_the_search_source(args: str, zones: tuple[str, ...]) -> None:
    assert options(f"autopath {args} @kubernetes") == AutoPathOptions(zones=zones, plugin="kubernetes")


def test_resolv_conf_form_reads_the_search_line(resolv: Path) -> None:
    # CoreDNS's table: search wins over the earlier domain line, plus the "" sentinel.
    assert options(f"autopath {resolv}") == AutoPathOptions(
        zones=(".",), search=("bar.com.", "baz.com.", "")
    )


@pytest.mark.parametrize(
    ("text", "search"),
    [
        ("search bar.com baz.com\ndomain foo.com\n", ("foo.com.", "")),  # the last line wins
        ("domain foo.com\n", ("foo.com.", "")),
        ("domain\n", ("",)),
        ("search Example.ORG. Corp.Internal\n", ("example.org.", "corp.internal.", "")),
        ("search a.com\nsearch b.com\n", ("b.com.", "")),
        ("  search\ta.com   b.com\r\n", ("a.com.", "b.com.", "")),
        ("nameserver 10.0.0.10\noptions ndots:5\n", ("",)),
        ("", ("",)),
    ],
    ids=["domain-after-search", "domain", "domain-empty", "normalised", "last-search", "whitespace", "no-search", "empty"],
)
def test_resolv_conf_rules(tmp_path: Path, text: str, search: tuple[str, ...]) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text(text)
    assert options(f"autopath {path}").search == search


def test_a_directory_reads_as_an_empty_search_list(tmp_path: Path) -> None:
    # Go opens a directory and reads nothing from it, without an error.
    assert read_search(str(tmp_path)) == []
    assert options(f"autopath {tmp_path}").search == ("",)


def test_infer_namespace_block_option() -> None:
    assert options("autopath @kubernetes {\n infer_namespace\n}") == AutoPathOptions(
        zones=(".",), plugin="kubernetes", infer_namespace=True
    )


def test_repeated_directive_last_one_wins(resolv: Path) -> None:
    # As CoreDNS's parse loop: each line overwrites zones; a file sets the search list and
    # @PLUGIN the plugin, so both may be set (the plugin's list is then used).
    got = options(f"autopath example.org @kubernetes\nautopath example.net {resolv}")
    assert got == AutoPathOptions(
        zones=("example.net.",), search=("bar.com.", "baz.com.", ""), plugin="kubernetes"
    )


# --- errors, worded as CoreDNS words them -----------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("autopath", "plugin/autopath: no resolv-conf specified"),
        ("autopath kubernetes", 'plugin/autopath: failed to parse "kubernetes": open kubernetes: no such file or directory'),
        ('autopath ""', 'plugin/autopath: failed to parse "": open : no such file or directory'),
        ("autopath example.org", 'plugin/autopath: failed to parse "example.org": open example.org: no such file or directory'),
        ("autopath @kubernetes {\nbogus\n}", "plugin/autopath: Corefile:3 - Error during parsing: unknown property 'bogus'"),
        (
            "autopath @kubernetes {\ninfer_namespace yes\n}",
            "plugin/autopath: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after 'yes'",
        ),
        (
            "autopath resolv {\n\ninfer_namespace\n}",
            "plugin/autopath: Corefile:4 - Error during parsing: infer_namespace needs a search path from a plugin (@PLUGIN), not resolv",
        ),
    ],
    ids=["no-args", "no-such-file", "empty-name", "zone-only", "unknown-property", "option-args", "option-needs-plugin"],
)
def test_errors(lines: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "resolv").write_text("search a.b\n")
    with pytest.raises(PluginSetupError) as info:
        build(f". {{\n{lines}\n whoami\n}}\n")
    assert str(info.value) == message


# --- @PLUGIN is found at startup -------------------------------------------------------------


async def test_plugin_that_is_no_autopather_fails_the_start() -> None:
    with pytest.raises(PluginSetupError) as info:
        async with run_corefile(". {\n autopath @whoami\n whoami\n}\n"):
            pass
    assert str(info.value) == "plugin/autopath: whoami does not implement the AutoPather interface"


async def test_autopath_itself_is_no_autopather() -> None:
    with pytest.raises(PluginSetupError) as info:
        async with run_corefile(". {\n autopath @autopath\n whoami\n}\n"):
            pass
    assert str(info.value) == "plugin/autopath: autopath does not implement the AutoPather interface"


async def test_missing_plugin_leaves_autopath_inert() -> None:
    # CoreDNS: Handler(name) is nil, the hook returns no error, and autopath has no search list.
    async with run_corefile(". {\n autopath @kubernetes\n whoami\n}\n") as srv:
        reply = await query(srv.port, "a.default.svc.cluster.local", "A")
        assert reply.rcode() == dns.rcode.NOERROR
        assert reply.additional[0].name.to_text() == "a.default.svc.cluster.local."  # whoami's


async def test_kubernetes_in_another_block_is_not_found(tmp_path: Path) -> None:
    corefile = (
        "example.org {\n autopath @kubernetes\n whoami\n}\n"
        f"cluster.local {{\n kubernetes {{\n  manifests {tmp_path}\n }}\n}}\n"
    )
    async with run_corefile(corefile) as srv:
        block = srv.runtime.instance.blocks[0]
        handler = block.handlers["autopath"]
        assert isinstance(handler, AutoPath)
        assert handler.search_func is None
