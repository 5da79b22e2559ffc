"""Initial sync time and memory of the informers on a large synthetic cluster.

    .venv/bin/python bench/kube_sync.py [--services 10000] [--endpoints-per-service 10]
                                        [--page-size 500] [--relist] [--no-pods] [--trace]

A fake API server (clusterdns.testing.fakeapi) runs in a subprocess holding N Services in 100
namespaces, one EndpointSlice per Service with E endpoints, and one Pod per endpoint (N × E
pods: 100,000 by default). This process runs the four informers CoreDNS runs with
``pods verified`` (services, endpointslices, namespaces, pods) into one ClusterIndex, over real
HTTP through the official client, and prints:

- the initial sync time (first list request to all four ``synced``);
- its resident memory (VmRSS from /proc/self/status) before the informers start (Python, the
  kubernetes client and clusterdns imported) and after the sync, and the peak (VmHWM, reset
  before the sync through /proc/self/clear_refs);
- with ``--relist``, the same after every watch gets 410 Gone and all four relist at once
  (the event that OOM-killed CoreDNS pods in kubernetes/kubernetes#139117);
- with ``--trace``, where the index's memory goes (tracemalloc, top allocation sites).

The server's memory is not counted: it lives in its own process. CoreDNS's published sizing
(coredns/deployment Scaling_CoreDNS.md) is ``MB ≈ (pods + services)/1000 × 0.86 + 49``, or
``× 2.5 + 50`` with autopath/``pods verified``; both are printed for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NAMESPACES = 100


# --- the server side (subprocess) --------------------------------------------------------------


def synthetic_cluster(services: int, per_service: int) -> Any:
    """Namespaces, then per Service: the Service, its EndpointSlice and its Pods."""
    from clusterdns.testing import fakeapi

    for n in range(NAMESPACES):
        yield fakeapi.namespace(f"ns-{n:03d}", {"team": f"team-{n % 7}"})
    pod_number = 0
    for s in range(services):
        ns = f"ns-{s % NAMESPACES:03d}"
        name = f"svc-{s:05d}"
        yield fakeapi.service(
            ns, name, f"10.96.{s // 250}.{s % 250 + 1}", [("http", 80), ("metrics", 9090)]
        )
        ips, pods = [], []
        for _ in range(per_service):
            ip = f"10.{128 + pod_number // 62500}.{pod_number // 250 % 250}.{pod_number % 250 + 1}"
            pod_name = f"{name}-{pod_number:06d}"
            ips.append(ip)
            pods.append(pod_name)
            yield fakeapi.pod(
                ns, pod_name, ip, labels={"app": name}, node_name=f"node-{pod_number % 500}"
            )
            pod_number += 1
        yield fakeapi.endpoint_slice(
            ns,
            f"{name}-abcde",
            name,
            ips,
            pods=pods,
            node_name=None,
            ports=[("http", 8080), ("metrics", 9090)],
            trigger_time="2024-05-02T10:11:40Z",
        )


async def serve(services: int, per_service: int) -> None:
    from clusterdns.testing.fakeapi import KINDS, FakeAPIServer

    api = FakeAPIServer()
    started = time.perf_counter()
    version = api.load(synthetic_cluster(services, per_service))
    counts = {kind: api.count(kind) for kind in KINDS}
    await api.start()
    print(f"url {api.url}", flush=True)
    print(
        f"loaded {counts} at resourceVersion {version} in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    loop = asyncio.get_running_loop()
    while True:
        command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if command == "expire":
            await api.compact()
            await api.expire_watches()
            print("ok", flush=True)
        elif command in ("", "quit"):
            break
    await api.stop()


# --- the informer side (this process) ------------------------------------------------------------


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def mb(kb: int) -> str:
    return f"{kb / 1024:7.1f} MB"


async def measure(args: argparse.Namespace) -> None:
    from clusterdns.kube.client import KubeClient
    from clusterdns.kube.index import ClusterIndex
    from clusterdns.kube.informer import cluster_informers

    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "--services",
            str(args.services),
            "--endpoints-per-service",
            str(args.endpoints_per_service),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        url = server.stdout.readline().split()[1]
        print(f"fake API server: {server.stdout.readline().strip()}")
        client = KubeClient.create(endpoint=url, request_timeout_seconds=120)
        index = ClusterIndex()
        informers = cluster_informers(
            index, client, pods=not args.no_pods, page_size=args.page_size
        )
        gc.collect()
        baseline = status_kb("VmRSS")
        peak_reset = reset_peak()
        if args.trace:
            import tracemalloc

            tracemalloc.start(3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        tasks = [asyncio.create_task(i.run()) for i in informers]
        synced_at: dict[str, float] = {}

        async def note(informer: Any) -> None:
            await informer.synced.wait()
            synced_at[informer.kind] = loop.time() - started

        await asyncio.wait_for(asyncio.gather(*(note(i) for i in informers)), 600)
        sync_seconds = loop.time() - started
        peak = status_kb("VmHWM")
        after = status_kb("VmRSS")
        gc.collect()
        after_gc = status_kb("VmRSS")

        pods, services = len(index.pods), len(index.services)
        endpoints = sum(len(s.endpoints) for s in index.slices.values())
        # CoreDNS's "pods" in its formula is the cluster's pod count, whether or not it watches
        # them (each pod is roughly one endpoint); here that is the number of endpoints.
        cluster_pods = max(pods, endpoints)
        coredns = (cluster_pods + services) / 1000 * 0.86 + 49
        coredns_autopath = (cluster_pods + services) / 1000 * 2.5 + 50
        print(
            f"index: {services} services, {len(index.slices)} slices ({endpoints} endpoints), "
            f"{pods} pods, {len(index.namespaces)} namespaces; page size {args.page_size}"
        )
        print(
            f"initial sync: {sync_seconds:.2f}s  ("
            + ", ".join(f"{k} {v:.2f}s" for k, v in sorted(synced_at.items(), key=lambda kv: kv[1]))
            + ")"
        )
        print(f"RSS before informers (Python + kubernetes client + clusterdns): {mb(baseline)}")
        print(f"RSS after sync:                 {mb(after)}   after gc: {mb(after_gc)}")
        print(f"RSS growth for the cluster:     {mb(after_gc - baseline)}")
        print(
            f"peak RSS during sync (VmHWM):   {mb(peak)}"
            + ("" if peak_reset else "  (not reset: process lifetime)")
        )
        print(
            f"CoreDNS sizing for {cluster_pods + services} pods+services: {coredns:.1f} MB "
            f"(with autopath/pods verified: {coredns_autopath:.1f} MB)"
        )

        if args.trace:
            import tracemalloc

            snapshot = tracemalloc.take_snapshot()
            current, traced_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"tracemalloc: {current / 2**20:.1f} MB live after sync, {traced_peak / 2**20:.1f} MB traced peak"
            )
            for stat in snapshot.statistics("lineno")[:15]:
                frame = stat.traceback[0]
                print(
                    f"  {stat.size / 2**20:7.1f} MB {stat.count:9d} blocks  {Path(frame.filename).name}:{frame.lineno}"
                )

        if args.relist:
            reset_peak()
            before_relist = status_kb("VmRSS")
            server.stdin.write("expire\n")
            server.stdin.flush()
            started = loop.time()
            while not all(i.stats.relists >= 1 for i in informers):
                await asyncio.sleep(0.01)
                if loop.time() - started > 600:
                    raise TimeoutError("relist did not finish")
            relist_seconds = loop.time() - started
            gc.collect()
            print(
                f"relist after 410 (every informer at once): {relist_seconds:.2f}s; RSS {mb(before_relist)} -> "
                f"{mb(status_kb('VmRSS'))}, peak during relist {mb(status_kb('VmHWM'))}"
            )

        for informer in informers:
            informer.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        client.close()
    finally:
        with_stdin = server.stdin
        try:
            with_stdin.write("quit\n")
            with_stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--endpoints-per-service", type=int, default=10)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--relist", action="store_true", help="also measure a relist of everything")
    parser.add_argument(
        "--no-pods", action="store_true", help="no pod informer (CoreDNS's default, pods disabled)"
    )
    parser.add_argument("--trace", action="store_true", help="tracemalloc: where the memory goes")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.services, args.endpoints_per_service))
        return
    # Import what the informer process needs before measuring the baseline.
    import clusterdns.kube.client
    import clusterdns.kube.informer  # noqa: F401

    assert threading.current_thread() is threading.main_thread()
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
