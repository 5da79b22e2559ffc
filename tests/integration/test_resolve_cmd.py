"""``clusterdns resolve`` as a user runs it: a subprocess against a running server.

The server is the cluster of test_search_path.py (fake API server, kubernetes, forward), or
the README's example server (Corefile.example). The command's whole output is pinned for a few
lookups, because its format is what operators read (and what the README shows); the other
tests check the lines that carry each behaviour and the exit status: 0 resolved, 1 not,
2 for a usage error.
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from test_search_path import API_A, API_AAAA, Cluster, served_cluster

from clusterdns import cli, resolvecmd
from clusterdns.testing import run_corefile
from clusterdns.testing.upstream import Upstream

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_SECONDS = 20.0

in_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster() -> AsyncIterator[Cluster]:
    async with served_cluster() as served:
        yield served


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


async def resolve(*args: str) -> Run:
    """``python -m clusterdns resolve ARGS``, waited for with a deadline."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "clusterdns", "resolve", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await asyncio.wait_for(process.wait(), RUN_TIMEOUT_SECONDS)
        raise
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def server(cluster: Cluster) -> str:
    return f"127.0.0.1:{cluster.srv.port}"


MUSL_EXTERNAL = """\
resolve api.example.com as musl getaddrinfo() would (ClusterFirst pod in namespace app)
  search  app.svc.cluster.local svc.cluster.local cluster.local
  ndots   5  (2 dots < 5: the search list first, then the name as is)
  server  {server} (udp)

 #  QUERY                                   TYPE  RCODE     ANSWER
 1  api.example.com.app.svc.cluster.local.  A     NXDOMAIN
 2  api.example.com.app.svc.cluster.local.  AAAA  NXDOMAIN
    -> next: A NXDOMAIN
 3  api.example.com.svc.cluster.local.      A     NXDOMAIN
 4  api.example.com.svc.cluster.local.      AAAA  NXDOMAIN
    -> next: A NXDOMAIN
 5  api.example.com.cluster.local.          A     NXDOMAIN
 6  api.example.com.cluster.local.          AAAA  NXDOMAIN
    -> next: A NXDOMAIN
 7  api.example.com.                        A     NOERROR   A 203.0.113.10
 8  api.example.com.                        AAAA  NOERROR   AAAA 2001:db8::10
    -> stop: answered

  result   203.0.113.10 2001:db8::10  (from api.example.com.)
  queries  8  (6 of them before the candidate that answered)
"""


@in_module_loop
async def test_musl_external_name_prints_every_query(cluster: Cluster) -> None:
    run = await resolve(
        "api.example.com", "--namespace", "app", "--libc", "musl", "--server", server(cluster)
    )
    assert (run.code, run.err) == (0, "")
    assert run.out == MUSL_EXTERNAL.format(server=server(cluster))


GLIBC_EXTERNALNAME = """\
resolve ext as glibc getaddrinfo() would (ClusterFirst pod in namespace app)
  search  app.svc.cluster.local svc.cluster.local cluster.local
  ndots   5  (0 dots < 5: the search list first, then the name as is)
  server  {server} (udp)

 #  QUERY                       TYPE  RCODE    ANSWER
 1  ext.app.svc.cluster.local.  A     NOERROR  CNAME api.example.com.
                                               api.example.com. A 203.0.113.10
 2  ext.app.svc.cluster.local.  AAAA  NOERROR  CNAME api.example.com.
                                               api.example.com. AAAA 2001:db8::10
    -> stop: answered

  result   203.0.113.10 2001:db8::10  (from ext.app.svc.cluster.local.)
  queries  2
"""


@in_module_loop
async def test_externalname_prints_the_cname_and_the_target(cluster: Cluster) -> None:
    run = await resolve("ext", "-n", "app", "--server", server(cluster))
    assert (run.code, run.err) == (0, "")
    assert run.out == GLIBC_EXTERNALNAME.format(server=server(cluster))


@in_module_loop
@pytest.mark.parametrize(
    ("libc", "last_row", "decision", "result"),
    [
        ("musl", "4 redis.svc.cluster.local. AAAA NOERROR (no records: NODATA)",
         "-> stop: NODATA for A and AAAA (EAI_NODATA)",
         "result EAI_NODATA: Name has no usable address"),
        ("glibc", "8 redis. AAAA NXDOMAIN",
         "-> stop: NXDOMAIN (HOST_NOT_FOUND), no candidate left",
         "result EAI_NODATA: No address associated with hostname"
         " (glibc reports the NODATA of redis.svc.cluster.local.)"),
    ],
)  # fmt: skip
async def test_namespace_named_like_a_service_exits_1(
    cluster: Cluster, libc: str, last_row: str, decision: str, result: str
) -> None:
    """musl stops at redis.svc.cluster.local (NODATA); glibc walks on and reports it."""
    run = await resolve("redis", "-n", "app", "--libc", libc, "--server", server(cluster))
    assert run.code == 1
    lines = [" ".join(line.split()) for line in run.lines]
    count = last_row.split()[0]
    assert lines[-5:] == [last_row, decision, "", result, f"queries {count}"]


@in_module_loop
async def test_node_search_domain_adds_a_candidate(cluster: Cluster) -> None:
    run = await resolve(
        "api.example.com", "-n", "app", "--node-search", "ec2.internal", "--server", server(cluster)
    )
    assert run.code == 0
    assert (
        "  search  app.svc.cluster.local svc.cluster.local cluster.local ec2.internal" in run.lines
    )
    rows = [re.split(r"\s+", line.strip()) for line in run.lines if re.match(r"^\s*\d+\s", line)]
    assert [row[1:4] for row in rows[6:8]] == [
        ["api.example.com.ec2.internal.", "A", "NXDOMAIN"],
        ["api.example.com.ec2.internal.", "AAAA", "NXDOMAIN"],
    ]
    assert run.lines[-1] == "  queries  10  (8 of them before the candidate that answered)"


@in_module_loop
async def test_servfail_under_a_node_domain_fails_musl_only(cluster: Cluster) -> None:
    args = [
        "api.example.com",
        "-n",
        "app",
        "--node-search",
        "broken.internal",
        "--server",
        server(cluster),
    ]
    glibc = await resolve(*args)
    musl = await resolve(*args, "--libc", "musl")
    assert glibc.code == 0
    assert glibc.lines[-2] == f"  result   {API_A} {API_AAAA}  (from api.example.com.)"
    assert musl.code == 1
    assert "    -> stop: A SERVFAIL (EAI_AGAIN)" in musl.lines
    assert musl.lines[-2:] == ["  result   EAI_AGAIN: Try again", "  queries  8"]


@in_module_loop
async def test_resolv_conf_file_sets_search_and_ndots(cluster: Cluster, tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "nameserver 10.96.0.10\nsearch app.svc.cluster.local svc.cluster.local\noptions ndots:2\n"
    )
    run = await resolve("api.example.com", "--resolv-conf", str(conf), "--server", server(cluster))
    assert run.code == 0
    assert run.lines[0] == f"resolve api.example.com as glibc getaddrinfo() would ({conf})"
    assert run.lines[1:3] == [
        "  search  app.svc.cluster.local svc.cluster.local",
        "  ndots   2  (2 dots >= 2: the name as is first, then the search list)",
    ]
    assert run.lines[-1] == "  queries  2"


@in_module_loop
async def test_search_and_ndots_flags_override(cluster: Cluster) -> None:
    run = await resolve("db.otherns", "-n", "app", "--search", "svc.cluster.local,cluster.local",
                        "--ndots", "1", "--libc", "musl", "--server", server(cluster))  # fmt: skip
    assert run.code == 1  # musl: 1 dot >= ndots:1, the name as is only
    assert run.lines[1:3] == [
        "  search  svc.cluster.local cluster.local",
        "  ndots   1  (1 dot >= 1: the name as is only, musl never searches it)",
    ]
    assert run.lines[-2:] == ["  result   EAI_NONAME: Name does not resolve", "  queries  2"]


@in_module_loop
async def test_tcp_flag_sends_over_tcp(cluster: Cluster) -> None:
    """--tcp: the queries arrive over TCP (sent straight to the upstream, which records it)."""
    before = cluster.upstream.count(proto="tcp", name="api.example.com")
    udp_before = cluster.upstream.count(proto="udp", name="api.example.com")
    run = await resolve("api.example.com.", "-n", "app", "--tcp", "--server", cluster.upstream.addr)
    assert run.code == 0
    assert f"  server  {cluster.upstream.addr} (tcp)" in run.lines
    assert cluster.upstream.count(proto="tcp", name="api.example.com") == before + 2
    assert cluster.upstream.count(proto="udp", name="api.example.com") == udp_before


def _closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@in_module_loop
@pytest.mark.parametrize(
    ("libc", "message"), [("glibc", "Temporary failure in name resolution"), ("musl", "Try again")]
)
async def test_unreachable_server_is_eai_again(libc: str, message: str) -> None:
    run = await resolve(
        "web", "-n", "app", "--libc", libc, "--server", f"127.0.0.1:{_closed_udp_port()}"
    )
    assert run.code == 1
    assert "(port unreachable)" in run.out
    assert run.lines[-2:] == [f"  result   EAI_AGAIN: {message}", "  queries  2"]


@in_module_loop
async def test_silent_server_times_out() -> None:
    async with Upstream() as silent:
        silent.mode = "silent"
        run = await resolve(
            "web", "-n", "app", "--libc", "musl", "--timeout", "0.2", "--server", silent.addr
        )
        assert run.code == 1
        assert "(no reply)" in run.out
        assert run.lines[-2:] == ["  result   EAI_AGAIN: Try again", "  queries  2"]
        assert silent.count(name="web.app.svc.cluster.local") == 4  # A and AAAA, 2 attempts each


# --- the README's example ---------------------------------------------------------------------

#: The block the README shows (acceptance 4 of issue 5), produced by
#: ``clusterdns resolve www.example.com --namespace demo --libc musl --server 127.0.0.1:5353``
#: against ``clusterdns -conf Corefile.example``; read from README.md so it cannot go stale.
_README_MATCH = re.search(
    r"```\n(resolve www\.example\.com as musl.*?)```", (ROOT / "README.md").read_text(), re.S
)
assert _README_MATCH is not None, "README.md lost its 'clusterdns resolve' example"
README_BLOCK = _README_MATCH.group(1)


@in_module_loop
async def test_readme_block_against_the_example_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    text = (ROOT / "Corefile.example").read_text()
    text = text.replace(".:5353 {", ".:0 {").replace("lameduck 5s", "lameduck 0s")
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:0", text)
    async with run_corefile(text) as srv:
        address = f"127.0.0.1:{srv.port}"
        run = await resolve(
            "www.example.com", "--namespace", "demo", "--libc", "musl", "--server", address
        )
    assert run.code == 0
    assert run.out == README_BLOCK.replace("127.0.0.1:5353", address)


# --- usage ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["web"], "one of the arguments --namespace/-n --resolv-conf is required"),
        (["web", "-n", "a", "--resolv-conf", "/etc/resolv.conf"], "not allowed with argument"),
        (["web", "-n", "a", "--libc", "bionic"], "invalid choice: 'bionic'"),
        (["web", "-n", "a", "--server", "dns.example:53"], "not an IP address"),
        (["web", "-n", "a", "--server", "127.0.0.1:99999"], "bad port '99999'"),
        (["web", "-n", "a", "--ndots", "-1"], "--ndots must be 0 or more"),
        (["web", "-n", "a", "--timeout", "0"], "--timeout must be positive"),
        (["web", "--resolv-conf", "/nonexistent/resolv.conf"], "/nonexistent/resolv.conf: No such file"),
        (["web", "--resolv-conf", "/dev/null", "--node-search", "x"], "--node-search goes with --namespace"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["resolve", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


@in_module_loop
async def test_usage_error_exit_status_of_the_process() -> None:
    run = await resolve("web")
    assert run.code == 2
    assert run.out == ""
    assert "usage: clusterdns resolve" in run.err


def test_resolve_is_a_subcommand_only_in_first_place(capsys: pytest.CaptureFixture[str]) -> None:
    """CoreDNS's flags keep their meaning: "resolve" after a flag is a stray argument."""
    assert cli.main(["-quiet", "resolve"]) == 1
    assert "extra command line arguments: ['resolve']" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
    ],
)
def test_parse_server(text: str, expected: tuple[str, int]) -> None:
    assert resolvecmd.parse_server(text) == expected


def test_resolv_conf_nameserver_is_the_default_server(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "nameserver 10.96.0.10\nnameserver 10.96.0.11\noptions timeout:1 attempts:3 edns0\n"
    )
    plan = resolvecmd.plan_from_args(["web", "--resolv-conf", str(conf)])
    client = plan.client
    assert (client.host, client.port, client.timeout_seconds, client.attempts, client.edns) == (
        "10.96.0.10", 53, 1, 3, True,
    )  # fmt: skip
    assert resolvecmd.plan_from_args(["web", "-n", "app"]).client.host == "127.0.0.1"
