"""The command line: CoreDNS's flags, the built-in Corefile, startup lines and exit codes."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import dns.exception
import dns.rcode
import pytest

from clusterdns import cli, registry
from clusterdns.testing import query
from clusterdns.testing.process import clusterdns_process
from clusterdns.testing.sockets import free_dns_port


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-conf", "x"], {"conf": "x"}),
        (["--conf", "x"], {"conf": "x"}),
        (["-conf=x"], {"conf": "x"}),
        (["-dns.port", "1053"], {"port": "1053"}),
        (["-p", "1053"], {"port": "1053"}),
        (["--p=1053"], {"port": "1053"}),
        (["-quiet"], {"quiet": True}),
        (["-quiet=false"], {"quiet": False}),
        (["-version"], {"version": True}),
        (["-plugins"], {"plugins": True}),
        (["-pidfile", "/tmp/x.pid"], {"pidfile": "/tmp/x.pid"}),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_flags_follow_go_flag_semantics(argv: list[str], expected: dict[str, object]) -> None:
    options, rest = cli.parse_args(argv)
    assert rest == []
    for name, value in expected.items():
        assert getattr(options, name) == value


def test_unknown_flag_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-nosuchflag"]) == 2
    err = capsys.readouterr().err
    assert "flag provided but not defined: -nosuchflag" in err
    assert "Usage of clusterdns:" in err


def test_extra_arguments_are_fatal(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-quiet", "stray"]) == 1
    assert "extra command line arguments: ['stray']" in capsys.readouterr().err


def test_version_and_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-version"]) == 0
    assert capsys.readouterr().out.startswith("clusterdns-")
    assert cli.main(["-plugins"]) == 0
    listed = [line.strip()[4:] for line in capsys.readouterr().out.splitlines() if "dns." in line]
    assert listed == sorted(registry.names())


async def test_bad_corefile_exits_1_with_file_and_line(tmp_path: Path) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(". {\n    whoami\n    foo\n}\n")
    async with clusterdns_process("-conf", str(corefile)) as server:
        assert await server.wait() == 1
    assert f"{corefile}:3 - Error during parsing: Unknown directive 'foo'" in server.lines


async def test_missing_conf_file_exits_1(tmp_path: Path) -> None:
    async with clusterdns_process("-conf", str(tmp_path / "nope")) as server:
        assert await server.wait() == 1
    assert any("nope" in line for line in server.lines)


async def test_without_corefile_serves_whoami_and_log(tmp_path: Path) -> None:
    # No -conf and no ./Corefile: CoreDNS's built-in ".:<port> { whoami log }".
    async with clusterdns_process("-dns.port", "0", cwd=str(tmp_path)) as server:
        await server.wait_started()
        assert list(server.ports) == ["."]
        reply = await query(server.port, "example.org", "A")
        assert reply.additional[0].to_text().endswith("IN A 127.0.0.1")
        log_line = await server.wait_for_line(r'"A IN example\.org\. udp')
        assert log_line.startswith("[INFO] 127.0.0.1:")
        server.signal(signal.SIGTERM)
        assert await server.wait() == 0
    assert "[INFO] SIGTERM: Shutting down servers then terminating" in server.lines


async def test_corefile_from_stdin_and_startup_lines() -> None:
    corefile = b"example.org:0 {\n whoami\n}\n"
    async with clusterdns_process("-conf", "stdin", stdin=corefile) as server:
        await server.wait_started()
        assert list(server.ports) == ["example.org."]
        assert server.lines[-1].startswith("clusterdns-")  # the version line comes last
        reply = await query(server.port, "www.example.org", "A")
        assert reply.rcode() == dns.rcode.NOERROR
        server.signal(signal.SIGINT)
        assert await server.wait() == 0


async def test_quiet_hides_startup_lines_and_pidfile_is_written(tmp_path: Path) -> None:
    port = free_dns_port()
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:%d {\n whoami\n}\n" % port)
    pidfile = tmp_path / "pid"
    async with clusterdns_process("-conf", str(corefile), "-quiet", "-pidfile", str(pidfile)) as server:
        # Nothing announces readiness with -quiet: ask until it answers (each try times out).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            try:
                await query(port, "example.org", "A", timeout=0.2)
                break
            except dns.exception.Timeout:
                if server.process.returncode is not None or loop.time() >= deadline:
                    rest = await server.wait(5.0) if server.process.returncode is not None else None
                    raise AssertionError(f"server never answered (exit {rest}):\n" + "\n".join(server.lines))
        assert pidfile.read_text().strip() == str(server.process.pid)
        server.signal(signal.SIGTERM)
        assert await server.wait() == 0
    assert not any(line.startswith(".:") or line.startswith("clusterdns-") for line in server.lines)


def test_subcommands_are_dispatched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # check and migrate are reached through the clusterdns command, not only as modules.
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:53 {\n    whoami\n}\n")
    assert cli.main(["check", "-conf", str(corefile)]) == 0
    assert "OK (0 error(s), 0 warning(s))" in capsys.readouterr().out
    corefile.write_text(".:53 {\n    nosuch\n}\n")
    assert cli.main(["check", "-conf", str(corefile)]) == 1
    configmap = tmp_path / "kube-dns.yaml"
    configmap.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kube-dns\n  namespace: kube-system\n"
        "data:\n  upstreamNameservers: |\n    [\"10.0.0.53\"]\n"
    )
    assert cli.main(["migrate", "kube-dns", "--configmap", str(configmap)]) == 0
    assert "forward . 10.0.0.53" in capsys.readouterr().out
