"""The fake API server itself, read over raw HTTP/1.1 (no kubernetes client in between).

These pin the protocol details the client and informer rely on: list kinds and paging,
chunked watch streams, selector semantics (leaving a selector is DELETED), resume and 410,
bookmarks, ``timeoutSeconds``, fault injection and restart on the same port.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kube_test_support import api  # noqa: F401  (fixtures)

from clusterdns.testing import fakeapi
from clusterdns.testing.fakeapi import (
    FakeAPIServer,
    Filter,
    kind_of,
    parse_label_selector,
)

WAIT_SECONDS = 5.0


class Http:
    """One keep-alive HTTP/1.1 connection to the fake."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, api: FakeAPIServer) -> Http:
        return cls(*await asyncio.open_connection(api.host, api.port))

    async def send(self, target: str) -> tuple[int, dict[str, str]]:
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: fake\r\n\r\n".encode())
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT_SECONDS)
        lines = head.decode().split("\r\n")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.lower()] = value.strip()
        return int(lines[0].split()[1]), headers

    async def get(self, target: str) -> tuple[int, dict[str, Any]]:
        status, headers = await self.send(target)
        body = await self.reader.readexactly(int(headers["content-length"]))
        return status, json.loads(body)

    async def chunk(self) -> bytes | None:
        """The next chunk of a chunked body; None at the terminating chunk."""
        size_line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), WAIT_SECONDS)
        size = int(size_line.strip(), 16)
        data = await self.reader.readexactly(size + 2)
        return data[:-2] if size else None

    async def events(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        got = []
        for _ in range(count):
            data = await self.chunk()
            assert data is not None and data.endswith(b"\n")
            event = json.loads(data)
            got.append((event["type"], event["object"]))
        return got

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.fixture
async def http(api: FakeAPIServer) -> Any:
    connection = await Http.open(api)
    yield connection
    await connection.close()


async def until(condition: Any) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


# --- lists -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind", "api_version"),
    [
        ("/api/v1/services", "ServiceList", "v1"),
        ("/apis/discovery.k8s.io/v1/endpointslices", "EndpointSliceList", "discovery.k8s.io/v1"),
        ("/api/v1/namespaces", "NamespaceList", "v1"),
        ("/api/v1/pods", "PodList", "v1"),
    ],
)
async def test_list_kinds(
    api: FakeAPIServer, http: Http, path: str, kind: str, api_version: str
) -> None:
    status, body = await http.get(path)
    assert status == 200
    assert (body["kind"], body["apiVersion"]) == (kind, api_version)
    assert body["metadata"]["resourceVersion"] == str(api.resource_version)
    assert body["items"] == []


async def test_paging_is_a_consistent_snapshot(api: FakeAPIServer, http: Http) -> None:
    for i in range(5):
        await api.create(fakeapi.namespace(f"ns-{i}"))
    _, first = await http.get("/api/v1/namespaces?limit=2")
    version = first["metadata"]["resourceVersion"]
    await api.create(fakeapi.namespace("ns-late"))  # not in the snapshot being paged
    await api.delete("namespaces", None, "ns-4")  # still in it
    names = [n["metadata"]["name"] for n in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        _, page = await http.get(f"/api/v1/namespaces?limit=2&continue={token}")
        assert page["metadata"]["resourceVersion"] == version
        names += [n["metadata"]["name"] for n in page["items"]]
        token = page["metadata"].get("continue")
    assert names == [f"ns-{i}" for i in range(5)]
    assert all("kind" not in n for n in first["items"])  # list items carry no kind, as in the API


async def test_namespaced_path(api: FakeAPIServer, http: Http) -> None:
    await api.create(fakeapi.service("a", "web", "10.96.0.1"))
    await api.create(fakeapi.service("b", "web", "10.96.0.2"))
    _, body = await http.get("/api/v1/namespaces/b/services")
    assert [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in body["items"]] == [
        ("b", "web")
    ]


async def test_unknown_path_and_bad_selector(http: Http) -> None:
    status, body = await http.get("/apis/apps/v1/deployments")
    assert status == 404 and body["kind"] == "Status" and body["code"] == 404
    status, body = await http.get("/api/v1/services?labelSelector=a%20in%20(")
    assert status == 400 and body["reason"] == "BadRequest"
    status, body = await http.get("/api/v1/services?fieldSelector=status.phase%3DRunning")
    assert status == 400 and "field label not supported" in body["message"]


async def test_fail_next_by_kind_then_recover(api: FakeAPIServer, http: Http) -> None:
    await api.fail_next(2, 503, kind="pods")
    assert (await http.get("/api/v1/services"))[0] == 200
    status, body = await http.get("/api/v1/pods")
    assert status == 503 and body["reason"] == "ServiceUnavailable"
    assert (await http.get("/api/v1/pods"))[0] == 503
    assert (await http.get("/api/v1/pods"))[0] == 200


# --- selectors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("tier in (front, back)", {"tier": "back"}, True),
        ("tier in (front,back)", {"tier": "cache"}, False),
        ("tier notin (front)", {}, True),
        ("tier notin (front)", {"tier": "front"}, False),
        ("app", {"app": ""}, True),
        ("!app", {"app": "x"}, False),
        ("app=web,tier in (a,b),!legacy", {"app": "web", "tier": "a"}, True),
        ("app=web,tier in (a,b),!legacy", {"app": "web", "tier": "a", "legacy": "1"}, False),
        ("", {"anything": "goes"}, True),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    flt = Filter(kind_of("services"), labels=parse_label_selector(selector))
    assert flt.matches({"metadata": {"labels": labels}}) is expected


def test_field_selector_chain_of_not_equals() -> None:
    pods = kind_of("Pod")
    flt = Filter(
        pods,
        fields=fakeapi.parse_field_selector("status.phase!=Succeeded,status.phase!=Failed", pods),
    )
    assert flt.matches(fakeapi.pod("a", "p", "10.0.0.1", "Running"))
    assert not flt.matches(fakeapi.pod("a", "p", "10.0.0.1", "Failed"))


# --- watches ---------------------------------------------------------------------------------


async def test_watch_is_chunked_json_lines_and_ends_at_timeout(
    api: FakeAPIServer, http: Http
) -> None:
    await api.create(fakeapi.namespace("a"))
    status, headers = await http.send("/api/v1/namespaces?watch=true&timeoutSeconds=1")
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    # no resourceVersion: synthetic ADDED for what exists, then live events
    assert [(t, o["metadata"]["name"]) for t, o in await http.events(1)] == [("ADDED", "a")]
    await api.create(fakeapi.namespace("b"))
    [(kind, obj)] = await http.events(1)
    assert (kind, obj["kind"], obj["metadata"]["name"]) == ("ADDED", "Namespace", "b")
    assert await http.chunk() is None  # the stream ends after timeoutSeconds
    assert (await http.get("/api/v1/namespaces"))[0] == 200  # and the connection is reusable


async def test_object_leaving_the_selector_is_deleted_and_entering_is_added(
    api: FakeAPIServer, http: Http
) -> None:
    since = api.resource_version
    await http.send(f"/api/v1/services?watch=true&labelSelector=app%3Dweb&resourceVersion={since}")
    await until(lambda: api.watches("services") == 1)
    await api.create(fakeapi.service("a", "s", "10.96.0.1", labels={"app": "web"}))
    await api.update(fakeapi.service("a", "s", "10.96.0.2", labels={"app": "web"}))
    await api.update(fakeapi.service("a", "s", "10.96.0.3", labels={"app": "db"}))
    await api.update(fakeapi.service("a", "s", "10.96.0.4", labels={"app": "web"}))
    await api.create(fakeapi.service("a", "other", "10.96.0.5", labels={"app": "db"}))
    events = await http.events(4)
    assert [(t, o["spec"]["clusterIP"]) for t, o in events] == [
        ("ADDED", "10.96.0.1"),
        ("MODIFIED", "10.96.0.2"),
        ("DELETED", "10.96.0.2"),  # the previous state, at the new resourceVersion
        ("ADDED", "10.96.0.4"),
    ]
    assert events[2][1]["metadata"]["resourceVersion"] == str(since + 3)


async def test_resume_replays_history_and_compact_makes_it_gone(
    api: FakeAPIServer, http: Http
) -> None:
    since = api.resource_version
    await api.create(fakeapi.pod("a", "p1", "10.244.0.1"))
    await api.delete("pods", "a", "p1")
    await http.send(f"/api/v1/pods?watch=true&resourceVersion={since}&timeoutSeconds=1")
    assert [t for t, _ in await http.events(2)] == ["ADDED", "DELETED"]
    assert await http.chunk() is None
    await api.compact()
    await http.send(f"/api/v1/pods?watch=true&resourceVersion={since}")
    [(kind, status)] = await http.events(1)
    assert kind == "ERROR" and status["code"] == 410 and status["reason"] == "Expired"
    assert await http.chunk() is None  # the server ends the stream after the error


async def test_gone_as_http_status(api: FakeAPIServer, http: Http) -> None:
    api.gone_as_http = True
    since = api.resource_version
    await api.create(fakeapi.namespace("a"))
    await api.compact()
    status, body = await http.get(f"/api/v1/namespaces?watch=true&resourceVersion={since}")
    assert status == 410 and body["code"] == 410


async def test_history_limit_drops_old_versions(api: FakeAPIServer, http: Http) -> None:
    api.history_limit = 2
    since = api.resource_version
    for i in range(3):
        await api.create(fakeapi.namespace(f"n{i}"))
    await http.send(f"/api/v1/namespaces?watch=true&resourceVersion={since}")
    assert (await http.events(1))[0][0] == "ERROR"


async def test_bookmarks_only_when_allowed(api: FakeAPIServer) -> None:
    plain, bookmarked = await Http.open(api), await Http.open(api)
    try:
        await plain.send(f"/api/v1/pods?watch=true&resourceVersion={api.resource_version}")
        await bookmarked.send(
            f"/api/v1/pods?watch=true&allowWatchBookmarks=true&resourceVersion={api.resource_version}"
        )
        await until(lambda: api.watches("pods") == 2)
        await api.create(fakeapi.namespace("bump"))  # moves the global resourceVersion
        await api.bookmark_now()
        await api.create(fakeapi.pod("a", "p", "10.244.0.1"))
        [(kind, obj)] = await bookmarked.events(1)
        assert kind == "BOOKMARK" and obj["kind"] == "Pod"
        assert obj["metadata"]["resourceVersion"] == str(api.resource_version - 1)
        assert (await plain.events(1))[0][0] == "ADDED"
        assert (await bookmarked.events(1))[0][0] == "ADDED"
    finally:
        await plain.close()
        await bookmarked.close()


async def test_expire_watches_sends_410(api: FakeAPIServer, http: Http) -> None:
    await http.send(f"/api/v1/services?watch=true&resourceVersion={api.resource_version}")
    await until(lambda: api.watches() == 1)
    await api.expire_watches()
    [(kind, status)] = await http.events(1)
    assert kind == "ERROR" and status["code"] == 410
    assert await http.chunk() is None


async def test_close_watches_mid_event_cuts_the_connection(api: FakeAPIServer, http: Http) -> None:
    await http.send(f"/api/v1/services?watch=true&resourceVersion={api.resource_version}")
    await until(lambda: api.watches() == 1)
    await api.close_watches(mid_event=True)
    with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
        await http.events(1)
    assert api.watches() == 0


async def test_restart_keeps_the_port_and_the_state(api: FakeAPIServer) -> None:
    await api.create(fakeapi.namespace("kept"))
    port, version = api.port, api.resource_version
    await api.stop()
    with pytest.raises(OSError):
        await asyncio.open_connection(api.host, port)
    await api.restart()
    assert api.port == port and api.resource_version == version
    connection = await Http.open(api)
    try:
        _, body = await connection.get("/api/v1/namespaces")
        assert [n["metadata"]["name"] for n in body["items"]] == ["kept"]
    finally:
        await connection.close()


async def test_slow_list_delays_the_answer(api: FakeAPIServer, http: Http) -> None:
    await api.slow_list(0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await http.get("/api/v1/services"))[0] == 200
    assert loop.time() - started >= 0.2


async def test_objects_and_get_reflect_the_state(api: FakeAPIServer) -> None:
    created = await api.create(fakeapi.service("a", "web", "10.96.0.1"))
    assert created["metadata"]["resourceVersion"] == str(api.resource_version)
    assert created["metadata"]["uid"]
    await api.update(fakeapi.service("a", "web", "10.96.0.2"))
    [obj] = api.objects("services")
    assert obj["kind"] == "Service" and obj["spec"]["clusterIP"] == "10.96.0.2"
    assert obj["metadata"]["uid"] == created["metadata"]["uid"]
    assert api.get("Service", "a", "web") == obj
    assert api.count("services") == 1 and api.count("Pod") == 0
    with pytest.raises(ValueError, match="already exists"):
        await api.create(fakeapi.service("a", "web", "10.96.0.3"))
    with pytest.raises(KeyError):
        await api.delete("services", "a", "nope")
