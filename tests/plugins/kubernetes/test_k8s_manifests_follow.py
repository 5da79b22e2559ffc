"""Following edits of manifest files: edits, new files, deletions, bad edits and the poll task.

The source polls every 50 ms; each test waits for the index to reach the expected state with a
deadline (the ``until`` fixture), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from clusterdns.kube.index import ClusterIndex
from clusterdns.plugins.kubernetes import manifests
from clusterdns.plugins.kubernetes.manifests import ManifestSource

POLL_SECONDS = 0.05
Until = Callable[..., Awaitable[None]]


def service(name: str, ip: str) -> str:
    return f"kind: Service\nmetadata: {{name: {name}}}\nspec: {{clusterIP: {ip}}}\n"


def cluster_ip(index: ClusterIndex, name: str) -> tuple[str, ...] | None:
    found = index.service("default", name)
    return None if found is None else found.cluster_ips


def poll_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("kubernetes manifests ")]


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[ManifestSource, ClusterIndex]]:
    """A source following tmp_path/cluster (created with one file, a.yaml)."""
    root = tmp_path / "cluster"
    root.mkdir()
    (root / "a.yaml").write_text(service("a", "10.96.0.1"))
    index = ClusterIndex()
    src = ManifestSource(
        [str(root)], index, watch_pods=True, poll_interval_seconds=POLL_SECONDS
    )
    await src.start()
    try:
        yield src, index
    finally:
        await src.stop()


def root_of(src: ManifestSource) -> Path:
    return Path(src.paths[0])


async def test_an_edit_is_followed(
    running: tuple[ManifestSource, ClusterIndex], until: Until
) -> None:
    src, index = running
    assert cluster_ip(index, "a") == ("10.96.0.1",)
    (root_of(src) / "a.yaml").write_text(service("a", "10.96.0.222"))

    async def edited() -> bool:
        return cluster_ip(index, "a") == ("10.96.0.222",)

    await until(edited)


async def test_a_same_size_edit_is_followed(
    running: tuple[ManifestSource, ClusterIndex], until: Until
) -> None:
    src, index = running
    path = root_of(src) / "a.yaml"
    before = path.stat()
    path.write_text(service("a", "10.96.0.2"))  # same length as 10.96.0.1
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))

    async def edited() -> bool:
        return cluster_ip(index, "a") == ("10.96.0.2",)

    await until(edited)


async def test_an_editor_style_replace_is_followed(
    running: tuple[ManifestSource, ClusterIndex], until: Until
) -> None:
    src, index = running
    temporary = root_of(src) / ".a.yaml.swp"
    temporary.write_text(service("a", "10.96.0.3"))
    os.replace(temporary, root_of(src) / "a.yaml")

    async def replaced() -> bool:
        return cluster_ip(index, "a") == ("10.96.0.3",)

    await until(replaced)


async def test_a_new_file_is_read(
    running: tuple[ManifestSource, ClusterIndex], until: Until
) -> None:
    src, index = running
    (root_of(src) / "sub").mkdir()
    (root_of(src) / "sub" / "b.yml").write_text(service("b", "10.96.0.4"))

    async def added() -> bool:
        return cluster_ip(index, "b") == ("10.96.0.4",)

    await until(added)
    assert cluster_ip(index, "a") == ("10.96.0.1",)


async def test_a_deleted_file_takes_its_objects(
    running: tuple[ManifestSource, ClusterIndex], until: Until
) -> None:
    src, index = running
    (root_of(src) / "b.yaml").write_text(service("b", "10.96.0.4"))

    async def added() -> bool:
        return cluster_ip(index, "b") is not None

    await until(added)
    (root_of(src) / "a.yaml").unlink()

    async def deleted() -> bool:
        return cluster_ip(index, "a") is None

    await until(deleted)
    assert cluster_ip(index, "b") == ("10.96.0.4",)


async def test_a_bad_edit_keeps_the_last_good_data(
    running: tuple[ManifestSource, ClusterIndex], until: Until, log_lines: list[str]
) -> None:
    src, index = running
    bad = root_of(src) / "a.yaml"
    bad.write_text("kind: Service\nmetadata: {name: a\n")

    async def logged() -> bool:
        return any("[ERROR] plugin/kubernetes:" in line for line in log_lines)

    await until(logged)
    assert cluster_ip(index, "a") == ("10.96.0.1",)
    # later polls do not repeat the error: wait for an unrelated change to be applied
    (root_of(src) / "b.yaml").write_text(service("b", "10.96.0.4"))

    async def other_change() -> bool:
        return cluster_ip(index, "b") is not None

    await until(other_change)
    [error] = [line for line in log_lines if "ERROR" in line]
    assert error.startswith(f"[ERROR] plugin/kubernetes: {bad}: line 3, column 1: ")
    assert cluster_ip(index, "a") == ("10.96.0.1",)
    bad.write_text(service("a", "10.96.0.9"))

    async def fixed() -> bool:
        return cluster_ip(index, "a") == ("10.96.0.9",)

    await until(fixed)


async def test_pod_readiness_edit_changes_derived_endpoints(tmp_path: Path, until: Until) -> None:
    def files(ready: str) -> str:
        return (
            "kind: Service\nmetadata: {name: db}\n"
            "spec: {clusterIP: None, selector: {app: db}, ports: [{name: pg, port: 5432}]}\n"
            "---\nkind: Pod\nmetadata: {name: db-0, labels: {app: db}}\n"
            "spec: {hostname: db-0, subdomain: db}\n"
            "status: {phase: Running, podIP: 10.244.0.7, conditions: [{type: Ready, "
            f'status: "{ready}"}}]}}\n'
        )

    path = tmp_path / "db.yaml"
    path.write_text(files("True"))
    index = ClusterIndex()
    src = ManifestSource([str(path)], index, watch_pods=False, poll_interval_seconds=POLL_SECONDS)
    await src.start()
    try:
        assert index.endpoints("default", "db").ready_addresses == ("10.244.0.7",)
        serial_before = index.serial
        path.write_text(files("False"))

        async def not_ready() -> bool:
            return index.endpoints("default", "db").ready_addresses == ()

        await until(not_ready)
        [(endpoint, _)] = list(index.endpoints("default", "db").endpoints())
        assert endpoint.hostname == "db-0"
        assert not endpoint.ready
        assert index.serial >= serial_before
    finally:
        await src.stop()


async def test_a_missing_path_that_appears_is_read(
    tmp_path: Path, until: Until, log_lines: list[str]
) -> None:
    path = tmp_path / "later.yaml"
    index = ClusterIndex()
    src = ManifestSource([str(path)], index, watch_pods=False, poll_interval_seconds=POLL_SECONDS)
    await src.start()
    try:
        assert index.services == {}
        path.write_text(service("late", "10.96.0.5"))

        async def appeared() -> bool:
            return cluster_ip(index, "late") == ("10.96.0.5",)

        await until(appeared)
        path.unlink()

        async def gone() -> bool:
            return cluster_ip(index, "late") is None

        await until(gone)

        async def logged_twice() -> bool:  # missing at start, and again after the deletion
            return len(log_lines) == 2

        await until(logged_twice)
        assert log_lines == [f"[ERROR] plugin/kubernetes: {path}: no such file or directory"] * 2
    finally:
        await src.stop()


async def test_unchanged_content_does_not_touch_the_index(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(service("a", "10.96.0.1"))
    index = ClusterIndex()
    calls: list[None] = []
    index.listeners.append(lambda: calls.append(None))
    src = ManifestSource([str(path)], index, watch_pods=True, poll_interval_seconds=60)
    await src.start()
    try:
        version = index.version
        assert await src.reload() is False  # nothing changed on disk
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        calls.clear()
        assert await src.reload() is True  # the file was re-read...
        assert index.version == version  # ...but no kind differed, so nothing was replaced
        assert calls == []
        path.write_text(service("a", "10.96.0.2"))
        assert await src.reload() is True
        assert index.version == version + 1  # only the services were replaced
        assert cluster_ip(index, "a") == ("10.96.0.2",)
    finally:
        await src.stop()


async def test_the_poller_survives_a_failure(
    running: tuple[ManifestSource, ClusterIndex],
    until: Until,
    log_lines: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src, index = running
    real_build = manifests.build_cluster
    failures = [RuntimeError("boom")]

    def flaky(*args: object, **kwargs: object) -> manifests.ClusterData:
        if failures:
            raise failures.pop()
        return real_build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(manifests, "build_cluster", flaky)
    (root_of(src) / "a.yaml").write_text(service("a", "10.96.0.77"))

    async def applied_after_retry() -> bool:
        return cluster_ip(index, "a") == ("10.96.0.77",)

    await until(applied_after_retry)
    assert log_lines[0] == (
        "[ERROR] plugin/kubernetes: Reading manifests failed unexpectedly: RuntimeError('boom')"
    )


async def test_stop_ends_the_poll_task(tmp_path: Path) -> None:
    src = ManifestSource([str(tmp_path)], ClusterIndex(), watch_pods=False)
    await src.start()
    assert len(poll_tasks()) == 1
    await src.stop()
    assert poll_tasks() == []
    await src.stop()  # twice is fine
    assert src.synced()
