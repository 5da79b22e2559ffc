"""Manifest files as the cluster: what is read from files and directories, and what reaches the
index (kinds, Lists, JSON, namespaces, derived slices, the ``labels`` selector, bad files).

Each test writes files under tmp_path, starts a ManifestSource on a fresh ClusterIndex and reads
the index directly; following edits is tested in test_k8s_manifests_follow.py.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from clusterdns.kube.index import ClusterIndex
from clusterdns.plugins.kubernetes.manifests import (
    ManifestError,
    ManifestSource,
    build_cluster,
    read_objects,
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def service_s(cluster_ip: str) -> str:
    return f"kind: Service\nmetadata: {{name: s}}\nspec: {{clusterIP: {cluster_ip}}}\n"


def cluster_ips(index: ClusterIndex, name: str) -> tuple[str, ...]:
    found = index.service("default", name)
    assert found is not None
    return found.cluster_ips


@asynccontextmanager
async def source(*paths: Path, **kwargs: Any) -> AsyncIterator[ClusterIndex]:
    index = ClusterIndex()
    kwargs.setdefault("watch_pods", True)
    src = ManifestSource([str(p) for p in paths], index, **kwargs)
    await src.start()
    try:
        yield index
    finally:
        await src.stop()


SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo, labels: {app: web}}
spec:
  clusterIP: 10.96.0.20
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: demo, labels: {app: web}}
spec: {nodeName: n1, containers: [{name: c}]}
status:
  phase: Running
  podIP: 10.244.0.5
  conditions: [{type: Ready, status: "True"}]
"""


# --- kinds and document shapes ----------------------------------------------------------------


async def test_multi_document_yaml(tmp_path: Path) -> None:
    path = write(tmp_path / "all.yaml", f"---\n{SERVICE}---\n---\n{POD}---\n")
    async with source(path) as index:
        assert set(index.services) == {("demo", "web")}
        assert set(index.pods) == {("demo", "web-1")}
        assert index.pods_by_ip("10.244.0.5")[0].name == "web-1"


async def test_list_kinds(tmp_path: Path) -> None:
    path = write(
        tmp_path / "lists.yaml",
        """\
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: Service, metadata: {name: a}, spec: {clusterIP: 10.96.0.1}}
        - apiVersion: v1
          kind: ServiceList
          items:
          - {metadata: {name: b}, spec: {clusterIP: 10.96.0.2}}
        ---
        apiVersion: v1
        kind: PodList
        items:
        - {metadata: {name: p}, status: {phase: Running, podIP: 10.244.0.1}}
        """,
    )
    async with source(path) as index:
        assert sorted(index.services) == [("default", "a"), ("default", "b")]
        assert set(index.pods) == {("default", "p")}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"},'
            ' "spec": {"clusterIP": "10.96.0.1"}}',
            id="object",
        ),
        pytest.param(
            '{"kind": "Service", "metadata": {"name": "a"}, "spec": {"clusterIP": "10.96.0.1"}}\n'
            '{"kind": "Namespace", "metadata": {"name": "x"}}\n',
            id="stream",
        ),
        pytest.param(
            '[{"kind": "Service", "metadata": {"name": "a"}, "spec": {"clusterIP": "10.96.0.1"}}]',
            id="array",
        ),
        pytest.param(
            '{"kind": "List", "items": [{"kind": "Service", "apiVersion": "v1",'
            ' "metadata": {"name": "a"}, "spec": {"clusterIP": "10.96.0.1"}}]}',
            id="list",
        ),
    ],
)
async def test_json_files(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "svc.json", text)
    async with source(path) as index:
        assert cluster_ips(index, "a") == ("10.96.0.1",)


async def test_unknown_kinds_are_ignored_and_workloads_make_no_pods(tmp_path: Path) -> None:
    path = write(
        tmp_path / "app.yaml",
        """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: demo}
        spec:
          replicas: 3
          selector: {matchLabels: {app: web}}
          template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c}]}}
        ---
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: db, namespace: demo}
        spec: {serviceName: db, replicas: 3}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings, namespace: demo}
        data: {a: b}
        ---
        apiVersion: serving.knative.dev/v1
        kind: Service
        metadata: {name: knative, namespace: demo}
        spec: {template: {spec: {containers: [{image: x}]}}}
        ---
        apiVersion: example.com/v1
        kind: WidgetList
        metadata: {name: not-a-list}
        """,
    )
    async with source(path) as index:
        assert index.services == {}
        assert index.pods == {}
        assert index.slices == {}
        assert index.has_namespace("demo")  # used by an object, so it exists


async def test_objects_without_namespace_are_in_default(tmp_path: Path) -> None:
    path = write(tmp_path / "a.yaml", SERVICE.replace(", namespace: demo", ""))
    async with source(path) as index:
        assert set(index.services) == {("default", "web")}


async def test_directories_recursive_sorted_and_filtered(tmp_path: Path) -> None:
    root = tmp_path / "cluster"
    write(root / "b" / "svc.yaml", service_s("10.96.0.2"))
    write(root / "a.yml", service_s("10.96.0.1"))
    write(root / "c" / "d" / "x.json", '{"kind": "Service", "metadata": {"name": "deep"}}')
    write(root / "notes.txt", "kind: Service\nmetadata: {name: txt}\n")
    write(root / ".hidden.yaml", "kind: Service\nmetadata: {name: hidden}\n")
    write(root / "..data" / "dup.yaml", "kind: Service\nmetadata: {name: dotdir}\n")
    explicit = write(tmp_path / "extra.manifest", "kind: Service\nmetadata: {name: explicit}\n")
    async with source(root, explicit) as index:
        assert sorted(n for _, n in index.services) == ["deep", "explicit", "s"]
        # a.yml comes before b/svc.yaml in sorted order, so the later definition wins
        assert cluster_ips(index, "s") == ("10.96.0.2",)


async def test_later_definition_wins_with_a_warning(tmp_path: Path, log_lines: list[str]) -> None:
    first = write(tmp_path / "1.yaml", service_s("10.96.0.1"))
    second = write(tmp_path / "2.yaml", service_s("10.96.0.2"))
    async with source(first, second) as index:
        assert cluster_ips(index, "s") == ("10.96.0.2",)
    assert log_lines == [
        f"[WARNING] plugin/kubernetes: {second}: Service default/s replaces the one defined "
        f"earlier in {first}"
    ]


async def test_yaml_timestamps_stay_text(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml",
        """\
        kind: Pod
        metadata:
          name: p
          creationTimestamp: 2024-05-01T09:00:00Z
          deletionTimestamp: 2024-05-01T10:00:00Z
        status: {phase: Running, podIP: 10.244.0.1}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          name: s-1
          labels: {kubernetes.io/service-name: s}
          annotations:
            endpoints.kubernetes.io/last-change-trigger-time: 2024-05-01T10:00:00Z
        addressType: IPv4
        endpoints: []
        """,
    )
    async with source(path) as index:
        assert index.pods[("default", "p")].deleting
        assert index.slices[("default", "s-1")].trigger_time == 1714557600.0


async def test_pod_ips_only_fill_the_pod_ip(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        "kind: Pod\nmetadata: {name: p}\n"
        "status: {phase: Running, podIPs: [{ip: 10.244.0.9}, {ip: 'fd00::9'}]}\n",
    )
    async with source(path) as index:
        assert index.pods[("default", "p")].ip == "10.244.0.9"


# --- namespaces -------------------------------------------------------------------------------


async def test_namespaces_named_used_and_always_present(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ns.yaml",
        """\
        apiVersion: v1
        kind: Namespace
        metadata: {name: team-a, labels: {owner: a}}
        ---
        kind: ConfigMap
        metadata: {name: c, namespace: from-configmap}
        ---
        kind: Service
        metadata: {name: s, namespace: from-service}
        ---
        kind: ClusterRole
        metadata: {name: cluster-scoped}
        """,
    )
    async with source(path) as index:
        assert sorted(index.namespaces) == [
            "default",
            "from-configmap",
            "from-service",
            "kube-system",
            "team-a",
        ]
        assert index.namespaces["team-a"].labels == (("owner", "a"),)


async def test_empty_directory_still_has_default_namespaces(tmp_path: Path) -> None:
    async with source(tmp_path) as index:
        assert sorted(index.namespaces) == ["default", "kube-system"]
        assert index.services == {}


# --- derived slices ---------------------------------------------------------------------------


async def test_slices_derived_when_the_files_have_none(tmp_path: Path) -> None:
    path = write(tmp_path / "a.yaml", f"{SERVICE}---\n{POD}")
    async with source(path) as index:
        endpoints = index.endpoints("demo", "web")
        assert endpoints.ready_addresses == ("10.244.0.5",)
        [(endpoint, endpoint_slice)] = list(endpoints.endpoints())
        assert endpoint_slice.name == "web-ipv4"
        assert endpoint.target_pod == "web-1"
        assert endpoint.node_name == "n1"
        assert endpoint_slice.ports[0].port == 8080


async def test_explicit_slice_means_no_derivation(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml",
        f"""{SERVICE}---
{POD}---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: web-abc, namespace: demo, labels: {{kubernetes.io/service-name: web}}}}
addressType: IPv4
endpoints: [{{addresses: [10.244.9.9]}}]
""",
    )
    async with source(path) as index:
        assert set(index.slices) == {("demo", "web-abc")}
        assert index.endpoints("demo", "web").ready_addresses == ("10.244.9.9",)


async def test_derived_name_taken_by_a_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml",
        f"""{SERVICE}---
{POD}---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: web-ipv4, namespace: demo, labels: {{kubernetes.io/service-name: other}}}}
addressType: IPv4
endpoints: []
""",
    )
    async with source(path) as index:
        assert index.slices[("demo", "web-ipv4")].service_name == "other"
        assert index.slices[("demo", "web-ipv4-2")].service_name == "web"


async def test_endpoints_mirrored_for_selectorless_service(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml",
        """\
        kind: Service
        metadata: {name: ext}
        spec: {clusterIP: 10.96.0.9, ports: [{port: 5432}]}
        ---
        kind: Endpoints
        metadata: {name: ext}
        subsets: [{addresses: [{ip: 192.0.2.7}], ports: [{port: 5432}]}]
        """,
    )
    async with source(path) as index:
        assert index.endpoints("default", "ext").ready_addresses == ("192.0.2.7",)


# --- watch_pods and the labels selector --------------------------------------------------------


async def test_without_watch_pods_the_index_gets_no_pods(tmp_path: Path) -> None:
    path = write(tmp_path / "a.yaml", f"{SERVICE}---\n{POD}")
    async with source(path, watch_pods=False) as index:
        assert index.pods == {}
        # the pods still feed the derived slices
        assert index.endpoints("demo", "web").ready_addresses == ("10.244.0.5",)


LABELLED = """\
kind: Service
metadata: {name: kept, labels: {tier: front}}
spec: {clusterIP: 10.96.0.1, selector: {app: kept}}
---
kind: Service
metadata: {name: dropped, labels: {tier: back}}
spec: {clusterIP: 10.96.0.2, selector: {app: dropped}}
---
kind: Pod
metadata: {name: kept-pod, labels: {app: kept, tier: front}}
status: {phase: Running, podIP: 10.244.0.1, conditions: [{type: Ready, status: "True"}]}
---
kind: Pod
metadata: {name: dropped-pod, labels: {app: dropped}}
status: {phase: Running, podIP: 10.244.0.2, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: manual, labels: {kubernetes.io/service-name: manual}}
addressType: IPv4
endpoints: []
"""


@pytest.mark.parametrize(
    ("selector", "services", "slices", "pods"),
    [
        pytest.param("", ["dropped", "kept"], ["dropped-ipv4", "kept-ipv4", "manual"],
                     ["dropped-pod", "kept-pod"], id="none"),
        pytest.param("tier=front", ["kept"], ["kept-ipv4"], ["kept-pod"], id="equals"),
        pytest.param("tier in (front, middle)", ["kept"], ["kept-ipv4"], ["kept-pod"], id="in"),
        pytest.param("tier notin (front)", ["dropped"], ["dropped-ipv4", "manual"],
                     ["dropped-pod"], id="notin"),
        pytest.param("!tier", [], ["manual"], ["dropped-pod"], id="does-not-exist"),
        pytest.param("tier", ["dropped", "kept"], ["dropped-ipv4", "kept-ipv4"], ["kept-pod"],
                     id="exists"),
    ],
)  # fmt: skip
async def test_label_selector(
    tmp_path: Path, selector: str, services: list[str], slices: list[str], pods: list[str]
) -> None:
    """Like the API server with CoreDNS's ``labels``: Services, slices (derived ones carry
    their Service's labels) and Pods are filtered; derivation itself sees every Pod."""
    path = write(tmp_path / "a.yaml", LABELLED)
    async with source(path, label_selector=selector) as index:
        assert sorted(n for _, n in index.services) == services
        assert sorted(n for _, n in index.slices) == slices
        assert sorted(n for _, n in index.pods) == pods


def test_invalid_label_selector_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a valid label selector operator"):
        ManifestSource([str(tmp_path)], ClusterIndex(), watch_pods=False, label_selector="a!=b")


@pytest.mark.parametrize("interval", [0, -1.0])
def test_poll_interval_must_be_positive(tmp_path: Path, interval: float) -> None:
    with pytest.raises(ValueError, match="poll interval"):
        ManifestSource(
            [str(tmp_path)], ClusterIndex(), watch_pods=False, poll_interval_seconds=interval
        )


# --- bad files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("kind: Service\nmetadata: {name: [x\n", "line 3, column 1: ",
                     id="yaml-syntax"),
        pytest.param("- a\n- b\n", "document 1: expected a Kubernetes object, found a list",
                     id="not-an-object"),
        pytest.param("kind: Service\nmetadata: {name: a}\n---\nmetadata: {name: b}\n",
                     "document 2: object has no kind", id="no-kind"),
        pytest.param("kind: List\nitems: [{metadata: {name: a}}]\n",
                     "document 1, item 1: object has no kind", id="list-item-without-kind"),
        pytest.param("kind: Service\nmetadata: {namespace: x}\n", "Service without metadata.name",
                     id="no-name"),
        pytest.param("kind: Service\nmetadata: {name: a}\nspec: {ports: [{port: http}]}\n",
                     "Service default/a: invalid literal for int()", id="bad-port"),
        pytest.param("kind: Pod\nmetadata: {name: a}\nspec: [1]\n",
                     "Pod default/a: spec must be a mapping", id="bad-spec"),
        pytest.param("kind: Pod\nmetadata: {name: a, labels: [x]}\n",
                     "Pod a: metadata.labels must be a mapping", id="bad-labels"),
    ],
)  # fmt: skip
def test_read_objects_problems(text: str, problem: str) -> None:
    with pytest.raises(ManifestError) as caught:
        read_objects(text, "f.yaml")
    assert str(caught.value).startswith(problem)


def test_bad_json_problem() -> None:
    with pytest.raises(ManifestError, match=r"^line 2, column 1: Expecting"):
        read_objects('{"kind": "Service",\n}', "f.json", json_file=True)


async def test_bad_file_is_logged_and_the_others_load(tmp_path: Path, log_lines: list[str]) -> None:
    good = write(tmp_path / "good.yaml", SERVICE)
    bad = write(tmp_path / "bad.yaml", "kind: Service\nmetadata: {name: [x\n")
    async with source(tmp_path) as index:
        assert set(index.services) == {("demo", "web")}
    assert good.exists()
    # libyaml and the pure-Python parser word the problem differently
    [line] = log_lines
    assert line.startswith(f"[ERROR] plugin/kubernetes: {bad}: line 3, column 1: ")
    assert "expected ',' or ']'" in line


async def test_missing_path_is_logged(tmp_path: Path, log_lines: list[str]) -> None:
    missing = tmp_path / "nope.yaml"
    async with source(missing) as index:
        assert sorted(index.namespaces) == ["default", "kube-system"]
    assert log_lines == [f"[ERROR] plugin/kubernetes: {missing}: no such file or directory"]


def test_build_cluster_sorts_each_kind(tmp_path: Path) -> None:
    objects = read_objects(
        "kind: Service\nmetadata: {name: b, namespace: z}\n---\n"
        "kind: Service\nmetadata: {name: a, namespace: z}\n---\n"
        "kind: Service\nmetadata: {name: c, namespace: a}\n",
        "f.yaml",
    )
    data = build_cluster(objects)
    assert [s.key for s in data.services] == [("a", "c"), ("z", "a"), ("z", "b")]
    assert [n.name for n in data.namespaces] == ["a", "default", "kube-system", "z"]


async def test_synced_after_start(tmp_path: Path) -> None:
    src = ManifestSource([str(tmp_path)], ClusterIndex(), watch_pods=False)
    assert not src.synced()
    await src.start()
    try:
        assert src.synced()
    finally:
        await src.stop()
