"""Throughput and latency of clusterdns next to dnsmasq, on the same names, on one machine.

    .venv/bin/python bench/run.py [--rounds 3] [--seconds 10] [--services 1000]
                                  [--workloads 1,2,3,4,5] [--clusterdns-only] [--workers N]
                                  [--no-memory] [--corefile FILE] [--keep]

Why: a number for clusterdns alone says little (it depends on the machine); the same load
against dnsmasq, a small C server, on the same cores in the same minute gives a ratio that
does. dnsmasq is a yardstick, not a competitor: it does no Kubernetes, it answers from a
hosts file.

What runs, all on 127.0.0.1 (ports chosen free at run time), each in its own process group:

- **clusterdns** (``python -m clusterdns -conf FILE``) on deploy/configmap.yaml's Corefile
  (errors, health with lameduck, ready, kubernetes with ``pods insecure``, ``ttl 30`` and
  fallthrough for the reverse zones, prometheus, forward, loop, reload, loadbalance, and
  cache 30 as the ConfigMap writes it, with ``disable success/denial cluster.local``: cluster
  answers are computed for every query, only forwarded ones are cached), moved to loopback,
  its kubernetes stanza reading ``manifests`` instead of an API server: the sample cluster
  (examples/cluster) plus a synthetic one of ``--services`` Services in ten namespaces
  (ClusterIP ones with an EndpointSlice, every fifth of them dual-stack, every tenth Service
  headless with three named endpoints), written as YAML into a temporary directory.
- **dnsmasq**, the reference, serving the same names: A/AAAA from a hosts file, ``srv-host``
  and ``cname`` lines, ``local=/cluster.local/`` so any other cluster name is NXDOMAIN without
  forwarding, ``synth-domain`` per namespace for pod names (``10-1-2-3.ns.pod.cluster.local``,
  what ``pods insecure`` answers: computed from the name, never from a cache; a hosts file
  with every round's pod names is no option, dnsmasq needs 5 s to load 400,000 names and
  40 s for 1,200,000), ``server=`` the upstream below, ``max-cache-ttl=30`` like ``cache 30``.
  SRV names exist for the sample's services and the first 40 synthetic ones only: dnsmasq
  walks its ``srv-host`` list for every query of any type, and 2,400 lines cost it 90% of its
  throughput. Over TCP dnsmasq serves each connection in a forked child, one query at a
  time; its loss there is shown, not counted as a failure.
- **an upstream**, a second dnsmasq answering ``host-N.example.net`` from a hosts file (TTL
  300), behind clusterdns's ``forward .`` and the reference's ``server=``.
- **dnsperf** against each server in turn, alternating (clusterdns, dnsmasq, clusterdns, ...)
  for every workload in every round. With two or more cores the server under test runs on
  core 0 (``--server-cpus``) and dnsperf, the upstream and this script on core 1
  (``--client-cpus``), through ``taskset``.

Workloads (dnsperf data files generated into the temporary directory):

1. cluster names that exist: Service A, dual-stack AAAA, ``_port._tcp`` SRV, headless and
   endpoint names, over the sample and the synthetic services (UDP);
2. search-path misses, as a pod's ``ndots:5`` search list makes them
   (``www.google.com.default.svc.cluster.local``, ``svc.ns.svc.cluster.local.svc.cluster.local``):
   all NXDOMAIN;
3. external names answered from the cache (``host-N.example.net``, through forward);
4. first-time answers: distinct pod names, never asked twice (each round has its own address
   range; ``dnsperf -n 1``; the file holds more than ``40,000 q/s × --seconds`` names);
5. workload 1 over TCP, 4 connections, 200 queries outstanding (as NodeLocal DNSCache talks to
   cluster DNS);

and **p99** (workload 1 at a fixed 20,000 q/s, every query's latency from ``dnsperf -v``).
Every run but workload 4's is preceded by one pass over its file, so the caches hold what they
can; before the first round each server gets a short warm-up run.

The result is one markdown table (median queries/s over the rounds, average latency, p99
where measured, the worst round's loss, the ratio clusterdns/dnsmasq), the machine and the
command line, ready to paste into README. Each run's response codes are printed as it ends;
a code the workload should not produce is flagged with WARNING, and before the runs every
question of workload 1 (and a sample of the others) is asked once to both servers and the
answers (rcode and answer section, TTLs aside) compared with the expected ones. The average
latency of a throughput run is mostly queueing (100 queries outstanding / queries per
second); the p99 row is the latency figure. Unless ``--no-memory``, bench/kube_sync.py then
measures the informers' memory and initial sync on 10,000 Services / 100,000 endpoints, with
and without the pod informer.

Exit status: 0; 1 when clusterdns answered wrongly, with an unexpected rcode or lost more
than 1% of a run; 2 when a tool is missing; 3 when the run failed (its directory is kept);
130 when interrupted.

``--corefile FILE`` replaces the built-in Corefile; it is a template where ``{$BENCH_PORT}``,
``{$BENCH_HEALTH}``, ``{$BENCH_READY}``, ``{$BENCH_METRICS}``, ``{$BENCH_UPSTREAM}`` (host:port)
and ``{$BENCH_MANIFESTS}`` (the manifest paths) are replaced by this script.

Needs dnsperf and dnsmasq (Debian/Ubuntu: ``apt-get install -y dnsperf dnsmasq-base``); exits
2 without them. Everything started is stopped on exit, on errors and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from clusterdns.testing.sockets import free_dns_port  # noqa: E402

HOST = "127.0.0.1"
ZONE = "cluster.local"
NAMESPACES = [f"bench-{n}" for n in range(10)]
EXTERNAL_DOMAIN = "example.net"
EXTERNAL_NAMES = 2000
SRV_SERVICES = 40  # synthetic Services with SRV names (see records())
SRV_REPEAT = 4  # each SRV question this many times in workload 1's file
#: Workload 4's file per round holds this many names per second of run (never runs out).
FRESH_NAMES_PER_SECOND = 40_000
FIXED_QPS = 20_000
UDP_ARGS = ["-c", "4", "-q", "100"]
TCP_ARGS = ["-m", "tcp", "-c", "4", "-q", "200"]
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
WARMUP_SECONDS = 2

CORE_FILE = """\
.:{$BENCH_PORT} {
    bind 127.0.0.1
    errors
    health 127.0.0.1:{$BENCH_HEALTH} {
       lameduck 5s
    }
    ready 127.0.0.1:{$BENCH_READY}
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       manifests {$BENCH_MANIFESTS}
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus 127.0.0.1:{$BENCH_METRICS}
    forward . {$BENCH_UPSTREAM} {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""

# --- the names and their answers ---------------------------------------------------------------

Record = tuple[str, str, str]  # (owner without ".svc.cluster.local", type, rdata)

#: The sample cluster's answers (examples/cluster), for dnsmasq and for the answer check.
SAMPLE: list[Record] = [
    ("kubernetes.default", "A", "10.96.0.1"),
    ("_https._tcp.kubernetes.default", "SRV", "0 100 443 kubernetes.default"),
    ("kube-dns.kube-system", "A", "10.96.0.10"),
    ("_dns._udp.kube-dns.kube-system", "SRV", "0 100 53 kube-dns.kube-system"),
    ("web.demo", "A", "10.96.100.10"),
    ("_http._tcp.web.demo", "SRV", "0 100 80 web.demo"),
    ("www.demo", "CNAME", "web.demo"),
    ("api.shop", "A", "10.96.200.20"),
    ("api.shop", "AAAA", "fd00:10:96::c8"),
    ("cart.shop", "A", "10.96.200.30"),
    ("_grpc._tcp.cart.shop", "SRV", "0 100 9090 cart.shop"),
    ("legacy-db.shop", "A", "10.96.200.50"),
    *[("db.shop", "A", ip) for ip in ("10.244.1.20", "10.244.2.21", "10.244.1.22")],
    *[(f"db-{i}.db.shop", "A", ip) for i, ip in enumerate(("10.244.1.20", "10.244.2.21", "10.244.1.22"))],
    *[("_postgres._tcp.db.shop", "SRV", f"0 33 5432 db-{i}.db.shop") for i in range(3)],
    *[("cache.shop", "A", ip) for ip in ("10.244.1.50", "10.244.2.51")],
    ("cache-0.cache.shop", "A", "10.244.1.50"),
    *[("_redis._tcp.cache.shop", "SRV", f"0 50 6379 cache-{i}.cache.shop") for i in range(2)],
]


def fqdn(short: str) -> str:
    return f"{short}.svc.{ZONE}."


@dataclass
class Service:
    namespace: str
    name: str
    ip: str | None  # None: headless
    ipv6: str | None = None
    endpoints: list[tuple[str, str]] = field(default_factory=list)  # (hostname or "", ip)


def synthetic_services(count: int) -> list[Service]:
    services = []
    for i in range(count):
        ns, name = NAMESPACES[i % len(NAMESPACES)], f"svc-{i:05d}"
        if i % 10 == 9:
            eps = [(f"ep-{j}", f"10.{202 + j}.{i // 250}.{i % 250 + 1}") for j in range(3)]
            services.append(Service(ns, name, None, None, eps))
        else:
            ipv6 = f"fd00:100::{i:x}" if i % 5 == 2 else None
            eps = [("", f"10.{200 + j}.{i // 250}.{i % 250 + 1}") for j in range(2)]  # no hostname
            services.append(Service(ns, name, f"10.100.{i // 250}.{i % 250 + 1}", ipv6, eps))
    return services


def records(services: list[Service]) -> list[Record]:
    """Every answer record (owner without ``.svc.cluster.local``, type, rdata) of workload 1.

    SRV only for the first ``SRV_SERVICES`` synthetic Services: dnsmasq scans its ``srv-host``
    lines one by one for every query, whatever its type (2,400 lines cut its throughput
    tenfold), which would measure that list rather than dnsmasq.
    """
    out = list(SAMPLE)
    for i, s in enumerate(services):
        base = f"{s.name}.{s.namespace}"
        if s.ip:
            out.append((base, "A", s.ip))
            if s.ipv6:
                out.append((base, "AAAA", s.ipv6))
            if i < SRV_SERVICES:  # one SRV per cluster IP, deduplicated: CoreDNS keeps the split weight
                out.append((f"_http._tcp.{base}", "SRV", f"0 {100 // (2 if s.ipv6 else 1)} 80 {base}"))
        else:
            for host, ip in s.endpoints:
                out += [(base, "A", ip), (f"{host}.{base}", "A", ip)]
                if i < SRV_SERVICES:
                    out.append((f"_http._tcp.{base}", "SRV", f"0 {100 // len(s.endpoints)} 8080 {host}.{base}"))
    return out


def expected_answers(recs: list[Record]) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """(name, qtype) -> the answer section as a set of (type, rdata), TTLs left out."""
    answers: dict[tuple[str, str], set[tuple[str, str]]] = {}
    a_of: dict[str, list[str]] = {}
    for owner, rtype, data in recs:
        if rtype == "A":
            a_of.setdefault(owner, []).append(data)
    for owner, rtype, data in recs:
        qtype = "A" if rtype == "CNAME" else rtype
        rdata = data
        if rtype == "SRV":
            *numbers, target = data.split()
            rdata = " ".join(numbers + [fqdn(target)])
        elif rtype == "CNAME":
            rdata = fqdn(data)
        answer = answers.setdefault((fqdn(owner), qtype), set())
        answer.add((rtype, rdata))
        if rtype == "CNAME":
            answer.update(("A", ip) for ip in a_of[data])
    return answers


def pod_name(i: int) -> tuple[str, str]:
    """The i-th distinct pod name (``pods insecure`` shape) over 10.0.0.0/8, and its address."""
    a, b, c = i // (256 * 254), (i // 254) % 256, i % 254 + 1
    ns = NAMESPACES[i % len(NAMESPACES)]
    return f"10-{a}-{b}-{c}.{ns}.pod.{ZONE}.", f"10.{a}.{b}.{c}"


def search_misses(services: list[Service], rng: random.Random) -> list[str]:
    """NXDOMAIN candidates of a pod's search path (ndots:5) for cluster and external names."""
    names = []
    for s in services[:500]:
        pod_ns = rng.choice(NAMESPACES)
        short, full = f"{s.name}.{s.namespace}", f"{s.name}.{s.namespace}.svc.{ZONE}"
        names.append(f"{short}.{pod_ns}.svc.{ZONE}.")  # "svc.ns" from another namespace
        names += [f"{full}.{pod_ns}.svc.{ZONE}.", f"{full}.svc.{ZONE}.", f"{full}.{ZONE}."]  # no trailing dot
    for host in ["www.google.com", "api.github.com", *(f"host-{n}.{EXTERNAL_DOMAIN}" for n in range(200))]:
        pod_ns = rng.choice(NAMESPACES + ["default", "shop"])
        names += [f"{host}.{pod_ns}.svc.{ZONE}.", f"{host}.svc.{ZONE}.", f"{host}.{ZONE}."]
    return names


# --- files ---------------------------------------------------------------------------------------


def write_manifests(services: list[Service], directory: Path) -> None:
    import yaml

    directory.mkdir()
    for ns in NAMESPACES:
        docs: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}]
        for s in (s for s in services if s.namespace == ns):
            meta = {"name": s.name, "namespace": ns}
            ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                     {"name": "grpc", "port": 9090, "protocol": "TCP", "targetPort": 9090}]  # fmt: skip
            ips = [ip for ip in (s.ip, s.ipv6) if ip] or ["None"]
            spec = {"clusterIP": ips[0], "clusterIPs": ips, "ports": ports, "selector": {"app": s.name},
                    "ipFamilies": ["IPv4", "IPv6"] if s.ipv6 else ["IPv4"]}  # fmt: skip
            docs.append({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec})
            endpoints = []
            for host, ip in s.endpoints:
                endpoint = {"addresses": [ip], "conditions": {"ready": True}}
                if host:
                    endpoint["hostname"] = host
                endpoints.append(endpoint)
            docs.append({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": f"{s.name}-x1", "namespace": ns,
                             "labels": {"kubernetes.io/service-name": s.name}},
                "addressType": "IPv4", "endpoints": endpoints,
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                          {"name": "grpc", "port": 9090, "protocol": "TCP"}],
            })  # fmt: skip
        (directory / f"{ns}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def dnsmasq_conf(work: Path, port: int, recs: list[Record], upstream: int) -> Path:
    """The reference dnsmasq: the cluster's names from files, everything else from the upstream."""
    hosts = [f"{data} {fqdn(owner)[:-1]}" for owner, rtype, data in recs if rtype in ("A", "AAAA")]
    write_lines(work / "cluster.hosts", hosts)
    lines = common_conf(port, work / "dnsmasq.pid") + [
        f"local=/{ZONE}/", f"addn-hosts={work / 'cluster.hosts'}", f"server={HOST}#{upstream}",
        "cache-size=10000", "max-cache-ttl=30", "local-ttl=30", "dns-forward-max=1000",
    ]  # fmt: skip
    for owner, rtype, data in recs:
        if rtype == "SRV":
            prio, weight, srv_port, target = data.split()
            lines.append(f"srv-host={fqdn(owner)[:-1]},{fqdn(target)[:-1]},{srv_port},{prio},{weight}")
        elif rtype == "CNAME":
            lines.append(f"cname={fqdn(owner)[:-1]},{fqdn(data)[:-1]}")
    lines += [f"synth-domain={ns}.pod.{ZONE},10.0.0.0,10.255.255.255" for ns in NAMESPACES]
    return write_lines(work / "dnsmasq.conf", lines)


def upstream_conf(work: Path, port: int) -> Path:
    hosts = [f"192.0.{2 + n // 250}.{n % 250 + 1} host-{n}.{EXTERNAL_DOMAIN}" for n in range(EXTERNAL_NAMES)]
    write_lines(work / "upstream.hosts", hosts)
    lines = common_conf(port, work / "upstream.pid") + [
        f"local=/{EXTERNAL_DOMAIN}/", f"addn-hosts={work / 'upstream.hosts'}", "local-ttl=300", "cache-size=0",
    ]  # fmt: skip
    return write_lines(work / "upstream.conf", lines)


def common_conf(port: int, pid_file: Path) -> list[str]:
    """Loopback only, no /etc/resolv.conf or /etc/hosts, log to stdout, and (as root) stay root:
    dnsmasq would otherwise switch to "nobody", who cannot read the temporary directory."""
    lines = [f"port={port}", f"listen-address={HOST}", "bind-interfaces", "no-resolv", "no-hosts",
             "log-facility=-", f"pid-file={pid_file}"]  # fmt: skip
    if os.geteuid() == 0:
        import grp
        import pwd

        lines += [f"user={pwd.getpwuid(os.geteuid()).pw_name}", f"group={grp.getgrgid(os.getegid()).gr_name}"]
    return lines


# --- processes ------------------------------------------------------------------------------------


def pinned(argv: list[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def start(argv: list[str], log: Path, children: list[subprocess.Popen]) -> subprocess.Popen:
    """A child in its own process group (Ctrl-C reaches only us; we stop it), output to ``log``."""
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=ROOT)  # fmt: skip
    children.append(process)
    return process


def stop(process: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM to the child's process group, SIGKILL if it is still there after ``timeout``."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def ask(port: int, name: str, qtype: str, tcp: bool = False) -> Any:
    import dns.message
    import dns.query

    query = dns.message.make_query(name, qtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, HOST, port=port, timeout=1.0)


def wait_answering(port: int, name: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until ``name`` gets NOERROR from the server on ``port`` (its data is loaded)."""
    import dns.rcode

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{log.stem} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if ask(port, name, "A").rcode() == dns.rcode.NOERROR:
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{log.stem} did not answer {name} within {timeout:.0f}s:\n{log.read_text()[-3000:]}")


def wait_clusterdns(process: subprocess.Popen, log: Path) -> None:
    """Until clusterdns has printed its startup lines (``.:PORT`` ... ``clusterdns-VERSION``)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while b"clusterdns-" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"clusterdns did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def rss(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "?"
    kb = {k: int(v.split()[0]) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(.*)$", status, re.M)}
    return f"{kb['VmRSS'] / 1024:.1f} MiB (peak {kb['VmHWM'] / 1024:.1f} MiB)"


# --- dnsperf -------------------------------------------------------------------------------------


@dataclass
class Result:
    qps: float
    latency: float  # seconds, average
    lost: float  # percent
    rcodes: dict[str, int]
    p99: float | None = None


def dnsperf(port: int, data: Path, extra: list[str], cpus: str | None, out: Path, limit: float) -> str:
    """Run dnsperf to the end (or kill it after ``limit`` + 30 s); its output is also kept in ``out``."""
    argv = pinned(["dnsperf", "-s", HOST, "-p", str(port), "-d", str(data), *extra], cpus)
    with open(out, "wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)  # fmt: skip
        try:
            process.wait(limit + 30)
        finally:
            stop(process, 2.0)
    text = out.read_text(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"dnsperf failed ({process.returncode}): {shlex.join(argv)}\n{text[-2000:]}")
    return text


def parse_dnsperf(text: str, verbose: bool) -> Result:
    stats = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        stats[key] = value.strip()
    lost = re.search(r"\(([\d.]+)%\)", stats.get("Queries lost", ""))
    rcodes = {code: int(n) for code, n in re.findall(r"([A-Z]+) (\d+) \(", stats.get("Response codes", ""))}
    if "Queries per second" not in stats or "Average Latency (s)" not in stats:
        raise RuntimeError(f"dnsperf printed no statistics (no answers?):\n{text[-2000:]}")
    result = Result(float(stats["Queries per second"]), float(stats["Average Latency (s)"].split()[0]),
                    float(lost.group(1)) if lost else 0.0, rcodes)  # fmt: skip
    if verbose:  # one line per answered query: "> NOERROR name type 0.000123"
        latencies = sorted(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                           if line.startswith("> ") and re.search(r" \d+\.\d+$", line))  # fmt: skip
        if latencies:
            result.p99 = latencies[max(0, -(-99 * len(latencies) // 100) - 1)]
    return result


def rcode_mix(rcodes: dict[str, int]) -> str:
    total = sum(rcodes.values()) or 1
    return ", ".join(f"{code} {n / total:.2%}" for code, n in sorted(rcodes.items(), key=lambda kv: -kv[1])) or "none"


# --- workloads -----------------------------------------------------------------------------------


@dataclass
class Workload:
    key: str
    title: str
    rcode: str  # the only response code its answers should have
    files: list[Path]  # one per round, or one for all rounds
    args: list[str]  # transport and concurrency, for the run and its priming pass
    run_args: list[str] = field(default_factory=list)  # for the measured run only
    prime: bool = True  # one pass over the file (-n 1) before each run

    def file(self, round_number: int) -> Path:
        return self.files[round_number % len(self.files)]


def workloads(work: Path, recs: list[Record], services: list[Service], args: argparse.Namespace) -> list[Workload]:
    """The chosen workloads, their dnsperf files written into ``work``."""
    rng = random.Random(1)
    questions = sorted({(fqdn(owner), "A" if rtype == "CNAME" else rtype) for owner, rtype, _ in recs})
    questions += [q for q in questions if q[1] == "SRV"] * (SRV_REPEAT - 1)
    questions += [(pod_name(i)[0], "A") for i in range(50)]  # a few pod names, asked again and again
    rng.shuffle(questions)
    cluster = write_lines(work / "w1-cluster.txt", [f"{n} {t}" for n, t in questions])
    chosen = [Workload("1", "cluster names that exist (A, AAAA, SRV; UDP)", "NOERROR", [cluster], UDP_ARGS)]
    if "2" in args.workloads:
        misses = [f"{n} {t}" for n in search_misses(services, rng) for t in ("A", "AAAA")]
        rng.shuffle(misses)
        chosen.append(Workload("2", "search-path misses (NXDOMAIN; UDP)", "NXDOMAIN",
                               [write_lines(work / "w2-misses.txt", misses)], UDP_ARGS))  # fmt: skip
    if "3" in args.workloads:
        external = [f"host-{n}.{EXTERNAL_DOMAIN}. A" for n in range(EXTERNAL_NAMES)]
        rng.shuffle(external)
        chosen.append(Workload("3", "external names from the cache (forward; UDP)", "NOERROR",
                               [write_lines(work / "w3-external.txt", external)], UDP_ARGS))  # fmt: skip
    if "4" in args.workloads:
        # Fresh names every round (a cache would answer a repeated one), more than a run can use.
        per_round = FRESH_NAMES_PER_SECOND * args.seconds
        fresh = [write_lines(work / f"w4-fresh-round{r + 1}.txt",
                             [f"{pod_name(1000 + r * per_round + i)[0]} A" for i in range(per_round)])
                 for r in range(args.rounds)]  # fmt: skip
        chosen.append(Workload("4", "first-time answers (distinct pod names; UDP)", "NOERROR", fresh, UDP_ARGS,
                               ["-n", "1"], prime=False))  # fmt: skip
    if "5" in args.workloads:
        chosen.append(Workload("5", "cluster names over TCP (4 connections, 200 outstanding)", "NOERROR",
                               [cluster], TCP_ARGS))  # fmt: skip
    if "1" in args.workloads:
        chosen.append(Workload("p99", f"p99: workload 1 at a fixed {FIXED_QPS:,} q/s", "NOERROR", [cluster], UDP_ARGS,
                               ["-Q", str(FIXED_QPS), "-v"]))  # fmt: skip
    else:
        chosen.pop(0)
    return chosen


def check_answers(servers: dict[str, int], recs: list[Record], services: list[Service],
                  warnings: list[tuple[str, str]]) -> None:  # fmt: skip
    """Ask every workload-1 question (and a few of the others) once; compare with what is expected."""
    import dns.flags
    import dns.rcode
    import dns.rdatatype

    cases: list[tuple[str, str, str, set[tuple[str, str]]]] = [
        (name, qtype, "NOERROR", answer) for (name, qtype), answer in expected_answers(recs).items()
    ]
    cases += [(f"host-{n}.{EXTERNAL_DOMAIN}.", "A", "NOERROR", {("A", f"192.0.2.{n + 1}")}) for n in range(5)]
    misses = search_misses(services[:10], random.Random(2))
    cases += [(n, qtype, "NXDOMAIN", set()) for n in misses[:40] + misses[-20:] for qtype in ("A", "AAAA")]
    cases += [(f"nosuch.{ns}.svc.{ZONE}.", "A", "NXDOMAIN", set()) for ns in NAMESPACES[:3]]
    cases += [(name, "A", "NOERROR", {("A", ip)}) for name, ip in map(pod_name, range(16_000_000, 16_000_005))]
    for server, port in servers.items():
        wrong, unanswered = [], 0
        for name, qtype, rcode, answer in cases:
            try:
                reply = ask(port, name, qtype)
                if reply.flags & dns.flags.TC:  # truncated: ask again over TCP
                    reply = ask(port, name, qtype, tcp=True)
            except Exception as exc:
                wrong.append(f"{name} {qtype}: {exc!r}")
                unanswered += 1
                if unanswered == 20:  # each costs a 1 s timeout: a dead server would take minutes
                    raise RuntimeError(f"{server} does not answer: {wrong[-1]}") from exc
                continue
            got_rcode = dns.rcode.to_text(reply.rcode())
            got = {(dns.rdatatype.to_text(rrset.rdtype), rdata.to_text().lower())
                   for rrset in reply.answer for rdata in rrset}  # fmt: skip
            if got_rcode != rcode or got != answer:
                wrong.append(f"{name} {qtype}: {got_rcode} {sorted(got)}; expected {rcode} {sorted(answer)}")
        print(f"answer check, {server}: {len(cases) - len(wrong)} of {len(cases)} questions as expected")
        for line in wrong[:10]:
            warnings.append((server, f"{server} answered {line}"))
            print(f"  WARNING: {line}")


# --- report --------------------------------------------------------------------------------------


def machine(args: argparse.Namespace, cpus: tuple[str | None, str | None], load: float) -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    probe = subprocess.run([sys.executable, "-c", "import uvloop; print(uvloop.__version__)"],
                           capture_output=True, text=True, timeout=30)  # fmt: skip
    uvloop = f"uvloop {probe.stdout.strip()}" if probe.returncode == 0 else "no uvloop (asyncio loop)"
    version = subprocess.run(["dnsmasq", "--version"], capture_output=True, text=True, timeout=10).stdout.split()
    dnsmasq = f"dnsmasq {version[2]}" if len(version) > 2 else "dnsmasq"
    perf = re.search(r"Version (\S+)", subprocess.run(["dnsperf", "-h"], capture_output=True, text=True,
                                                      timeout=10).stdout + "")  # fmt: skip
    git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                         capture_output=True, text=True, timeout=10).stdout.strip() or "?"  # fmt: skip
    pinning = f"server on CPU {cpus[0]}, dnsperf on CPU {cpus[1]}" if cpus[0] else "no CPU pinning"
    return (f"Machine: {model}, {os.cpu_count()} cores ({pinning}), Linux {platform.release()}, "
            f"Python {platform.python_version()}, {uvloop}; dnsperf {perf.group(1) if perf else '?'}, "
            f"{dnsmasq}; clusterdns {git}; load average {load:.2f} before the start"
            + (f", -workers {args.workers}" if args.workers > 1 else ""))  # fmt: skip


def ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.2f}"


def table(runs: dict[tuple[str, str], list[Result]], chosen: list[Workload], servers: list[str]) -> str:
    def summary(key: str, server: str) -> tuple[float, float, float | None, float] | None:
        results = runs.get((key, server))
        if not results:
            return None
        p99s = [r.p99 for r in results if r.p99 is not None]
        return (statistics.median(r.qps for r in results), statistics.median(r.latency for r in results),
                statistics.median(p99s) if p99s else None, max(r.lost for r in results))  # fmt: skip

    lines = [
        "| Workload | clusterdns q/s | dnsmasq q/s | clusterdns / dnsmasq | avg latency ms (clusterdns / dnsmasq) "
        "| p99 ms (clusterdns / dnsmasq) | lost % (clusterdns / dnsmasq) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for w in chosen:
        cd = summary(w.key, "clusterdns")
        dm = summary(w.key, "dnsmasq") if "dnsmasq" in servers else None
        if cd is None:
            continue
        ratio = f"{cd[0] / dm[0]:.2f}" if dm and w.key != "p99" else "—"  # at a fixed rate: no ratio

        def pair(i: int, fmt: Callable[[Any], str]) -> str:
            return f"{fmt(cd[i])} / {fmt(dm[i]) if dm else '—'}"

        label = w.title if w.key == "p99" else f"{w.key}. {w.title}"
        lines.append(f"| {label} | {cd[0]:,.0f} | {f'{dm[0]:,.0f}' if dm else '—'} | {ratio} | {pair(1, ms)} "
                     f"| {pair(2, ms)} | {pair(3, lambda v: f'{v:.2f}')} |")  # fmt: skip
    return "\n".join(lines)


def memory(timeout: float = 900.0) -> None:
    """bench/kube_sync.py with and without the pod informer: print its sync time and RSS lines."""
    print("Informers' memory and initial sync (bench/kube_sync.py, fake API server, its defaults):", flush=True)
    for label, flags in (("with the pod informer (pods verified), 100,000 pods", []),
                         ("without it (pods insecure or disabled)", ["--no-pods"])):  # fmt: skip
        argv = [sys.executable, str(ROOT / "bench" / "kube_sync.py"), *flags]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)  # fmt: skip
        try:
            text, _ = process.communicate(timeout=timeout)
        finally:
            stop(process, 5.0)
        wanted = [re.sub(r"\s{2,}", " ", line.strip()) for line in text.splitlines()
                  if line.startswith(("index:", "initial sync", "RSS after sync", "peak RSS"))]  # fmt: skip
        if process.returncode != 0 or not wanted:
            wanted = [f"failed ({process.returncode}): {text.strip()[-500:]}"]
        print(f"- {shlex.join(['bench/kube_sync.py', *flags])}: {label}: " + "; ".join(wanted), flush=True)


# --- main ----------------------------------------------------------------------------------------


def write_corefile(template: str, ports: dict[str, int], work: Path) -> Path:
    if "{$BENCH_PORT}" not in template:
        raise RuntimeError("--corefile: the template must listen on {$BENCH_PORT} (see the docstring)")
    values = {"PORT": ports["clusterdns"], "HEALTH": ports["health"], "READY": ports["ready"],
              "METRICS": ports["metrics"], "UPSTREAM": f"{HOST}:{ports['upstream']}",
              "MANIFESTS": f"{ROOT / 'examples' / 'cluster'} {work / 'synthetic'}"}  # fmt: skip
    for key, value in values.items():
        template = template.replace("{$BENCH_" + key + "}", str(value))
    return write_lines(work / "Corefile", [template.rstrip("\n")])


def start_servers(args: argparse.Namespace, work: Path, ports: dict[str, int], recs: list[Record],
                  cpus: tuple[str | None, str | None], children: list[subprocess.Popen]) -> dict[str, subprocess.Popen]:
    """The upstream, clusterdns and (unless --clusterdns-only) dnsmasq, each answering."""
    conf = upstream_conf(work, ports["upstream"])
    upstream = start(pinned(["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"], cpus[1]),
                     work / "upstream.log", children)  # fmt: skip
    wait_answering(ports["upstream"], f"host-0.{EXTERNAL_DOMAIN}", upstream, work / "upstream.log", 30)
    argv = [sys.executable, "-m", "clusterdns", "-conf", str(write_corefile(args.template, ports, work))]
    if args.workers > 1:
        argv += ["-workers", str(args.workers)]
    procs = {"clusterdns": start(pinned(argv, cpus[0]), work / "clusterdns.log", children)}
    wait_clusterdns(procs["clusterdns"], work / "clusterdns.log")
    if not args.clusterdns_only:
        conf = dnsmasq_conf(work, ports["dnsmasq"], recs, ports["upstream"])
        procs["dnsmasq"] = start(pinned(["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"], cpus[0]),
                                 work / "dnsmasq.log", children)  # fmt: skip
    for server, process in procs.items():
        wait_answering(ports[server], fqdn("web.demo"), process, work / f"{server}.log", STARTUP_TIMEOUT)
    return procs


def measure(w: Workload, r: int, server: str, port: int, args: argparse.Namespace, work: Path, cpus: str | None,
            warnings: list[tuple[str, str]]) -> Result:  # fmt: skip
    """One run of workload ``w`` in round ``r`` against ``server``, printed as one line."""
    tag = f"round{r + 1}-w{w.key}-{server}"
    if w.prime:
        dnsperf(port, w.file(r), [*w.args, "-n", "1", "-l", "60"], cpus, work / f"{tag}-prime.out", 60)
    output = dnsperf(port, w.file(r), [*w.args, *w.run_args, "-l", str(args.seconds)], cpus,
                     work / f"{tag}.out", args.seconds)  # fmt: skip
    result = parse_dnsperf(output, verbose="-v" in w.run_args)
    where, flags = f"round {r + 1}, workload {w.key}, {server}", ""
    if set(result.rcodes) != {w.rcode}:
        flags += f"   WARNING: expected only {w.rcode}"
        warnings.append((server, f"{where}: {rcode_mix(result.rcodes)} (expected only {w.rcode})"))
    if result.lost > 1.0:
        flags += f"   WARNING: {result.lost:.2f}% lost"
        warnings.append((server, f"{where}: {result.lost:.2f}% of the queries lost"))
    p99 = f"  p99 {ms(result.p99)} ms" if result.p99 is not None else ""
    print(f"round {r + 1}/{args.rounds}  workload {w.key:<3}  {server:<10}  {result.qps:>9,.0f} q/s  "
          f"avg {ms(result.latency)} ms{p99}  lost {result.lost:.2f}%  rcodes: {rcode_mix(result.rcodes)}{flags}",
          flush=True)  # fmt: skip
    return result


def bench(args: argparse.Namespace, work: Path, children: list[subprocess.Popen]) -> int:
    load = os.getloadavg()[0]  # others' work on these cores skews every number: printed with them
    cores = sorted(os.sched_getaffinity(0))
    cpus = (args.server_cpus, args.client_cpus) if len(cores) >= 2 else (None, None)
    if cpus[1]:
        os.sched_setaffinity(0, {int(c) for c in cpus[1].split(",")})
    print(f"work directory {work}", flush=True)
    services = synthetic_services(args.services)
    recs = records(services)
    write_manifests(services, work / "synthetic")
    chosen = workloads(work, recs, services, args)
    ports = {name: free_dns_port() for name in ("clusterdns", "dnsmasq", "upstream", "health", "ready", "metrics")}
    procs = start_servers(args, work, ports, recs, cpus, children)

    warnings: list[tuple[str, str]] = []  # (server, what)
    check_answers({server: ports[server] for server in procs}, recs, services, warnings)
    for server in procs:
        dnsperf(ports[server], work / "w1-cluster.txt", [*UDP_ARGS, "-l", str(WARMUP_SECONDS)], cpus[1],
                work / f"warmup-{server}.out", WARMUP_SECONDS)  # fmt: skip
    runs: dict[tuple[str, str], list[Result]] = {}
    for r in range(args.rounds):
        for w in chosen:
            for server in procs:  # alternating: clusterdns, dnsmasq, clusterdns, ...
                result = measure(w, r, server, ports[server], args, work, cpus[1], warnings)
                runs.setdefault((w.key, server), []).append(result)

    sizes = [f"{server} RSS {rss(process.pid)}" for server, process in procs.items()]
    print()
    print(f"clusterdns vs dnsmasq, {args.rounds} round(s) of {args.seconds} s per workload and server, "
          f"alternating; sample cluster + {args.services} synthetic Services; median queries/s over the rounds")
    print()
    print(table(runs, chosen, list(procs)))
    fixed = runs.get(("p99", "clusterdns"))
    if fixed and statistics.median(r.qps for r in fixed) < 0.95 * FIXED_QPS:
        print(f"(clusterdns could not answer {FIXED_QPS:,} q/s: its p99 row is a saturated run, "
              "the latency is queueing)")
    print()
    print(machine(args, cpus, load))
    print(f"Command: {shlex.join([os.path.relpath(sys.executable), *sys.argv])}")
    print(f"After the runs: {'; '.join(sizes)}")
    if not args.no_memory:
        for child in reversed(children):
            stop(child)
        os.sched_setaffinity(0, cores)  # kube_sync.py's two processes get every core
        memory()
    if warnings:
        print()
        print(f"WARNING: {len(warnings)} problem(s), see above:")
        print("\n".join(f"  - {what}" for _, what in warnings))
    # exit 1 for a problem of clusterdns's; dnsmasq's own (its TCP loses queries) are only shown
    return 1 if any(server == "clusterdns" for server, _ in warnings) else 0


def interrupted(signum: int, frame: object) -> None:
    """Ctrl-C and SIGTERM unwind through main's finally, which stops the children."""
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs per workload and server (default 3)")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per run (default 10)")
    parser.add_argument("--services", type=int, default=1000, help="synthetic Services (default 1000)")
    parser.add_argument("--workloads", default="1,2,3,4,5", help="a subset of 1,2,3,4,5 (p99 comes with 1)")
    parser.add_argument("--clusterdns-only", action="store_true", help="no dnsmasq: no ratios")
    parser.add_argument("--workers", type=int, default=1, help="clusterdns -workers N (only passed when N > 1)")
    parser.add_argument("--server-cpus", default="0", help="taskset CPU list of the server under test")
    parser.add_argument("--client-cpus", default="1", help="taskset CPU list of dnsperf, the upstream, this script")
    parser.add_argument("--no-memory", action="store_true", help="skip bench/kube_sync.py")
    parser.add_argument("--corefile", help="a Corefile template for clusterdns (placeholders: see the docstring)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    args.workloads = {w.strip() for w in args.workloads.split(",") if w.strip()}
    args.template = Path(args.corefile).read_text() if args.corefile else CORE_FILE
    if not args.workloads <= {"1", "2", "3", "4", "5"} or args.rounds < 1 or args.seconds < 1:
        parser.error("--workloads takes 1-5, --rounds and --seconds at least 1")
    missing = [tool for tool in ("dnsperf", "dnsmasq", "taskset") if not shutil.which(tool)]
    if missing:
        print(f"bench/run.py needs {', '.join(missing)}. On Debian/Ubuntu: "
              "apt-get install -y dnsperf dnsmasq-base util-linux", file=sys.stderr)  # fmt: skip
        sys.exit(2)
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background job starts with it ignored
        signal.signal(sig, interrupted)
    work = Path(tempfile.mkdtemp(prefix="clusterdns-bench-"))
    children: list[subprocess.Popen] = []
    status = 1
    try:
        status = bench(args, work, children)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = 130
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"bench/run.py: {exc}", file=sys.stderr)
        status = 3
    finally:
        for child in reversed(children):
            stop(child)
        if args.keep or status not in (0, 130):  # kept for a look after a failure
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
