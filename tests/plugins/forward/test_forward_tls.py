"""forward over DNS-over-TLS: verification by CA file and server name, connection reuse.

The certificate is made for the test with the openssl command (skipped without it): issued
for ``dns.test`` and ``127.0.0.1``, self-signed, so it is its own CA file.
"""

from __future__ import annotations

import contextlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import dns.rcode
import pytest

from clusterdns.metrics import REGISTRY
from clusterdns.testing import query, run_corefile
from clusterdns.testing.upstream import Upstream

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    assert OPENSSL is not None
    subprocess.run(
        [
            OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=dns.test",
            "-addext", "subjectAltName=DNS:dns.test,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def up(certificate: tuple[Path, Path]) -> AsyncIterator[Upstream]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    async with contextlib.AsyncExitStack() as stack:
        upstream = await stack.enter_async_context(Upstream(tls=context))
        upstream.add("example.org.", "A", "10.0.0.1")
        yield upstream


def addresses(reply) -> list[str]:  # type: ignore[no-untyped-def]
    return [rdata.address for rrset in reply.answer for rdata in rrset]


@pytest.mark.parametrize(
    ("to", "options"),
    [
        ("tls://{addr}", "tls {cert}"),  # verified for the address
        ("tls://127.0.0.1%dns.test:{port}", "tls {cert}"),  # per-upstream server name
        ("tls://{addr}", "tls {cert}\ntls_servername dns.test"),
    ],
    ids=["ip", "per-upstream-name", "tls-servername"],
)
@pytest.mark.parametrize("tcp", [False, True], ids=["udp-client", "tcp-client"])
async def test_forwards_over_tls(
    up: Upstream, certificate: tuple[Path, Path], to: str, options: str, tcp: bool
) -> None:
    cert, _ = certificate
    target = to.format(addr=up.tls_addr, port=up.tls_port)
    text = f". {{\nforward . {target} {{\n{options.format(cert=cert)}\n}}\n}}\n"
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "example.org", "A", tcp=tcp)
    assert addresses(reply) == ["10.0.0.1"]
    assert up.count(proto="tls") == 1 and up.count(proto="udp") == up.count(proto="tcp") == 0


async def test_wrong_server_name_fails_verification(
    up: Upstream, certificate: tuple[Path, Path], log_lines: list[str]
) -> None:
    cert, _ = certificate
    text = (
        f". {{\nerrors\nforward . tls://{up.tls_addr} {{\ntls {cert}\n"
        "tls_servername other.test\nmax_fails 0\n}\n}\n"
    )
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "example.org", "A")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert up.count() == 0
    assert log_lines == [
        "[ERROR] plugin/errors: 2 example.org. A: tls: failed to verify certificate: "
        "Hostname mismatch, certificate is not valid for 'other.test'."
    ]


async def test_system_cas_do_not_trust_a_self_signed_upstream(up: Upstream) -> None:
    text = f". {{\nforward . tls://{up.tls_addr} {{\nmax_fails 0\n}}\n}}\n"
    async with run_corefile(text) as srv:
        reply = await query(srv.port, "example.org", "A")
    assert reply.rcode() == dns.rcode.SERVFAIL and up.count() == 0


async def test_tls_connections_are_reused(up: Upstream, certificate: tuple[Path, Path]) -> None:
    cert, _ = certificate
    text = f". {{\nforward . tls://{up.tls_addr} {{\ntls {cert}\n}}\n}}\n"
    async with run_corefile(text) as srv:
        for _ in range(3):
            assert addresses(await query(srv.port, "example.org", "A")) == ["10.0.0.1"]
    assert up.tcp_connections == 1
    labels = {"proxy_name": "forward", "to": up.tls_addr, "proto": "tcp-tls"}
    assert REGISTRY.get_sample_value("coredns_proxy_conn_cache_hits_total", labels) == 2
    assert REGISTRY.get_sample_value("coredns_proxy_conn_cache_misses_total", labels) == 1


async def test_health_checks_use_tls(up: Upstream, certificate: tuple[Path, Path]) -> None:
    cert, _ = certificate
    up.mode = "silent"
    text = (
        f". {{\nforward . tls://{up.tls_addr} {{\ntls {cert}\nhealth_check 10ms\n"
        "read_timeout 50ms\nmax_connect_attempts 1\n}\n}\n"
    )
    async with run_corefile(text) as srv:
        await query(srv.port, "example.org", "A")
        await up.wait_until(lambda: up.count(name=".") >= 1)
    assert up.count(name=".", proto="tls") >= 1
