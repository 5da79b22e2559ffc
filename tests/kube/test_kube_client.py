"""KubeClient against the fake API server: configuration, raw lists and watches, errors.

Every request goes through the official ``kubernetes`` client over a real socket. The client
blocks, so each call runs in a thread while the fake server runs on the test's event loop.
Informer behaviour (relists, backoff) is covered in test_kube_informer*.py.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_test_support import api, client  # noqa: F401  (fixtures)

from clusterdns.kube.client import USER_AGENT, KubeClient
from clusterdns.kube.errors import (
    APIClientError,
    APIConnectionError,
    APIError,
    APIForbiddenError,
    APIServerError,
    KubeConfigError,
    ResourceExpired,
)
from clusterdns.testing import fakeapi
from clusterdns.testing.fakeapi import FakeAPIServer

WAIT_SECONDS = 5.0


async def in_thread(call: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.wait_for(asyncio.to_thread(call, *args, **kwargs), WAIT_SECONDS)


def drain(stream: Any) -> list[tuple[str, dict[str, Any]]]:
    return list(stream)


def write_kubeconfig(path: Path, clusters: dict[str, str], current: str, token: str = "") -> str:
    """A kubeconfig with one context per cluster (named like the cluster)."""
    user: dict[str, Any] = {"token": token} if token else {}
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": url}} for n, url in clusters.items()],
        "users": [{"name": "dns", "user": user}],
        "contexts": [{"name": n, "context": {"cluster": n, "user": "dns"}} for n in clusters],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(document))
    return str(path)


# --- configuration ---------------------------------------------------------------------------


async def test_endpoint_alone_connects_without_credentials(
    api: FakeAPIServer, client: KubeClient
) -> None:
    await api.create(fakeapi.service("default", "web", "10.96.0.10"))
    page = await in_thread(client.list_page, "services")
    assert [item["metadata"]["name"] for item in page.items] == ["web"]
    request = api.requests[-1]
    assert "authorization" not in request.headers
    assert request.headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("clusterdns/0.1.0 ")
    assert request.headers["accept"] == "application/json"


async def test_endpoint_without_scheme_is_plain_http(api: FakeAPIServer) -> None:
    kube = KubeClient.create(endpoint=f"127.0.0.1:{api.port}")
    try:
        assert kube.host == api.url
        await in_thread(kube.list_page, "namespaces")
    finally:
        kube.close()


async def test_kubeconfig_wins_over_endpoint_and_sends_its_token(
    api: FakeAPIServer, tmp_path: Path
) -> None:
    path = write_kubeconfig(tmp_path / "config", {"fake": api.url}, "fake", token="s3cr3t")
    kube = KubeClient.create(kubeconfig=path, endpoint="http://127.0.0.1:1")
    try:
        assert kube.host == api.url
        await in_thread(kube.list_page, "services")
    finally:
        kube.close()
    assert api.requests[-1].headers["authorization"] == "Bearer s3cr3t"


async def test_kubeconfig_context_selects_the_cluster(api: FakeAPIServer, tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "config", {"dead": "http://127.0.0.1:1", "live": api.url}, current="dead"
    )
    kube = KubeClient.create(kubeconfig=path, context="live")
    try:
        await in_thread(kube.list_page, "services")
    finally:
        kube.close()
    with pytest.raises(KubeConfigError, match="nope"):
        KubeClient.create(kubeconfig=path, context="nope")


def test_missing_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="kubeconfig"):
        KubeClient.create(kubeconfig=str(tmp_path / "absent"))


def test_no_configuration_at_all_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    with pytest.raises(
        KubeConfigError, match="no kubeconfig or endpoint configured, and no in-cluster"
    ):
        KubeClient.create()


def test_in_cluster_service_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kubernetes.config import incluster_config

    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("sa-token")
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    kube = KubeClient.create()
    try:
        assert kube.host == "https://10.96.0.1:443"
        configuration = kube.api_client.configuration
        assert configuration.ssl_ca_cert == str(ca)
        assert configuration.get_api_key_with_prefix("BearerToken") == "bearer sa-token"
    finally:
        kube.close()


# --- TLS: endpoint URL with tls CERT KEY CACERT ----------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        cwd=tmp_path,
    )
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        (tmp_path / f"{name}.ext").write_text(ext + "\n")
        _openssl(
            "req",
            *ec,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
            cwd=tmp_path,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "1",
            "-extfile",
            f"{name}.ext",
            cwd=tmp_path,
        )
    return tmp_path


@pytest.fixture
async def tls_api(pki: Path) -> AsyncIterator[FakeAPIServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki / "server.crt", pki / "server.key")
    context.load_verify_locations(pki / "ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED  # the client must present its certificate
    server = FakeAPIServer(ssl_context=context)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_endpoint_with_tls_client_certificate(tls_api: FakeAPIServer, pki: Path) -> None:
    await tls_api.create(fakeapi.namespace("kube-system"))
    tls = (str(pki / "client.crt"), str(pki / "client.key"), str(pki / "ca.crt"))
    kube = KubeClient.create(endpoint=tls_api.url, tls=tls)
    try:
        assert kube.host.startswith("https://")
        page = await in_thread(kube.list_page, "namespaces")
        assert [n["metadata"]["name"] for n in page.items] == ["kube-system"]
        # a watch over TLS can be aborted from another thread too
        stream = kube.watch(
            "namespaces", resource_version=page.resource_version, timeout_seconds=60
        )
        reader = asyncio.ensure_future(in_thread(drain, stream))
        await _until(lambda: tls_api.watches("namespaces") == 1)
        stream.close()
        assert await asyncio.wait_for(reader, 1.0) == []
    finally:
        kube.close()


async def test_tls_without_the_client_certificate_fails_to_connect(
    tls_api: FakeAPIServer, pki: Path
) -> None:
    kube = KubeClient.create(endpoint=tls_api.url)  # no tls: the server's CA is unknown too
    try:
        with pytest.raises(APIConnectionError):
            await in_thread(kube.list_page, "namespaces")
    finally:
        kube.close()


# --- lists -----------------------------------------------------------------------------------


async def test_list_pages_share_one_resource_version(
    api: FakeAPIServer, client: KubeClient
) -> None:
    for i in range(5):
        await api.create(fakeapi.service("default", f"svc-{i}", f"10.96.0.{i + 1}"))
    names, token, versions = [], "", set()
    for _ in range(5):
        page = await in_thread(client.list_page, "services", limit=2, continue_token=token)
        names += [item["metadata"]["name"] for item in page.items]
        versions.add(page.resource_version)
        token = page.continue_token
        if not token:
            break
    assert names == [f"svc-{i}" for i in range(5)]
    assert versions == {str(api.resource_version)}
    assert [r.query.get("limit") for r in api.requests] == ["2", "2", "2"]


async def test_list_with_selectors(api: FakeAPIServer, client: KubeClient) -> None:
    await api.create(fakeapi.pod("a", "running", "10.244.0.1", labels={"app": "web"}))
    await api.create(fakeapi.pod("a", "done", "10.244.0.2", "Succeeded", labels={"app": "web"}))
    await api.create(fakeapi.pod("a", "other", "10.244.0.3", labels={"app": "db"}))
    page = await in_thread(
        client.list_page, "pods", label_selector="app=web", field_selector="status.phase!=Succeeded"
    )
    assert [p["metadata"]["name"] for p in page.items] == ["running"]
    assert api.requests[-1].query["labelSelector"] == "app=web"


async def test_expired_continue_token_is_resource_expired(
    api: FakeAPIServer, client: KubeClient
) -> None:
    for i in range(3):
        await api.create(fakeapi.namespace(f"ns-{i}"))
    first = await in_thread(client.list_page, "namespaces", limit=1)
    await api.compact()
    with pytest.raises(ResourceExpired) as caught:
        await in_thread(
            client.list_page, "namespaces", limit=1, continue_token=first.continue_token
        )
    assert caught.value.status == 410 and caught.value.reason == "Expired"


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, APIServerError), (503, APIServerError), (403, APIForbiddenError), (429, APIClientError)],
)
async def test_error_statuses_map_to_error_classes(
    api: FakeAPIServer, client: KubeClient, status: int, error: type[APIError]
) -> None:
    await api.fail_next(1, status)
    with pytest.raises(error) as caught:
        await in_thread(client.list_page, "services")
    assert caught.value.status == status
    assert caught.value.payload["kind"] == "Status"
    assert "injected failure" in str(caught.value)
    await in_thread(client.list_page, "services")  # the next request succeeds


async def test_bad_selector_is_a_client_error(api: FakeAPIServer, client: KubeClient) -> None:
    with pytest.raises(APIClientError, match="BadRequest"):
        await in_thread(client.list_page, "pods", field_selector="spec.nope=1")


async def test_unknown_resource_is_a_programming_error(client: KubeClient) -> None:
    with pytest.raises(ValueError, match="unknown resource"):
        client.list_page("deployments")


async def test_connection_refused_is_a_connection_error(
    api: FakeAPIServer, client: KubeClient
) -> None:
    await api.stop()
    with pytest.raises(APIConnectionError):
        await in_thread(client.list_page, "services")


async def test_a_list_that_never_answers_times_out(api: FakeAPIServer) -> None:
    await api.slow_list(30)
    kube = KubeClient.create(endpoint=api.url, request_timeout_seconds=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(APIConnectionError, match="timed out"):
            await in_thread(kube.list_page, "services")
        assert time.monotonic() - started < 2
    finally:
        kube.close()


# --- watches ---------------------------------------------------------------------------------


async def _until(condition: Any, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_watch_replays_changes_after_a_version_then_ends_at_its_timeout(
    api: FakeAPIServer, client: KubeClient
) -> None:
    since = (await in_thread(client.list_page, "services")).resource_version
    await api.create(fakeapi.service("default", "a", "10.96.0.1"))
    await api.create(fakeapi.service("default", "b", "10.96.0.2"))
    await api.update(fakeapi.service("default", "a", "10.96.0.3"))
    await api.delete("services", "default", "b")
    stream = client.watch("services", resource_version=since, timeout_seconds=1)
    events = await in_thread(drain, stream)
    assert [(t, o["metadata"]["name"]) for t, o in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
    ]
    assert all(o["kind"] == "Service" and o["apiVersion"] == "v1" for _, o in events)
    versions = [int(o["metadata"]["resourceVersion"]) for _, o in events]
    assert versions == sorted(versions) and versions[-1] == api.resource_version
    query = api.requests[-1].query
    assert query["watch"] == "true" and query["allowWatchBookmarks"] == "true"
    assert query["timeoutSeconds"] == "1" and query["resourceVersion"] == since


async def test_watch_streams_live_events_and_bookmarks(
    api: FakeAPIServer, client: KubeClient
) -> None:
    since = (await in_thread(client.list_page, "pods")).resource_version
    stream = client.watch("pods", resource_version=since, timeout_seconds=60)
    got: list[tuple[str, dict[str, Any]]] = []

    def read() -> None:
        for event in stream:
            got.append(event)
            if len(got) == 2:
                stream.close()

    reader = asyncio.ensure_future(asyncio.to_thread(read))
    await _until(lambda: api.watches("pods") == 1)
    await api.create(fakeapi.pod("a", "p", "10.244.0.9"))
    await api.bookmark_now()
    await asyncio.wait_for(reader, WAIT_SECONDS)
    assert [t for t, _ in got] == ["ADDED", "BOOKMARK"]
    assert got[1][1]["metadata"]["resourceVersion"] == str(api.resource_version)


async def test_close_from_another_thread_ends_a_blocked_watch_at_once(
    api: FakeAPIServer, client: KubeClient
) -> None:
    stream = client.watch("services", resource_version="", timeout_seconds=300)
    reader = asyncio.ensure_future(asyncio.to_thread(drain, stream))
    await _until(lambda: api.watches("services") == 1)
    started = time.monotonic()
    stream.close()
    assert await asyncio.wait_for(reader, 1.0) == []
    assert time.monotonic() - started < 1.0
    assert stream.closed


async def test_watch_gone_as_an_error_event(api: FakeAPIServer, client: KubeClient) -> None:
    await api.create(fakeapi.namespace("a"))
    await api.compact()
    events = await in_thread(
        drain, client.watch("namespaces", resource_version="1", timeout_seconds=5)
    )
    assert len(events) == 1
    kind, status = events[0]
    assert kind == "ERROR" and status["kind"] == "Status" and status["code"] == 410


async def test_watch_gone_as_an_http_status(client: KubeClient, api: FakeAPIServer) -> None:
    api.gone_as_http = True
    await api.compact()
    with pytest.raises(ResourceExpired):
        await in_thread(drain, client.watch("namespaces", resource_version="1", timeout_seconds=5))


async def test_watch_cut_in_the_middle_of_an_event_is_a_connection_error(
    api: FakeAPIServer, client: KubeClient
) -> None:
    stream = client.watch("services", resource_version="", timeout_seconds=60)
    reader = asyncio.ensure_future(asyncio.to_thread(drain, stream))
    await _until(lambda: api.watches("services") == 1)
    await api.close_watches(mid_event=True)
    with pytest.raises(APIConnectionError):
        await asyncio.wait_for(reader, WAIT_SECONDS)


async def test_a_silent_watch_connection_is_noticed(client: KubeClient) -> None:
    """A server that answers the watch and then never sends a byte (a dead peer)."""
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    kube = KubeClient.create(endpoint=f"http://127.0.0.1:{port}", watch_grace_seconds=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(APIConnectionError, match="timed out"):
            await in_thread(drain, kube.watch("services", resource_version="5", timeout_seconds=1))
        assert 1.0 <= time.monotonic() - started < 3.0
    finally:
        release.set()
        kube.close()
        server.close()
        await server.wait_closed()


def test_errors_chain_and_format() -> None:
    error = APIError.from_status(
        0, {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    )
    assert isinstance(error, ResourceExpired)
    assert str(error) == "API error 410 Expired: too old"
    assert isinstance(APIError.from_status(502), APIServerError)
    assert str(APIError.from_status(500, reason="GET /api/v1/pods: boom")) == (
        "API error 500: GET /api/v1/pods: boom"
    )
