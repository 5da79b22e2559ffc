"""``clusterdns check -conf FILE``: set a Corefile up without serving it, and name its traps.

The Corefile is built exactly as the server builds it at start and on every reload
(``Runtime(...).build(...)``: parse, every plugin's setup, chains compiled, listeners planned)
and never started: no socket is bound and no API server is contacted, because setting up does
neither (listeners, the HTTP servers and the informers start only in ``Runtime.start``). So a
Corefile that passes here is one the server accepts, and an edit to the ``coredns`` ConfigMap
can be checked in CI before *reload* picks it up and before a restarted pod would crash on it.

When the build fails, the Corefile is set up once more directive by directive, keeping on after
each failure, so that every error is reported (as ``FILE:LINE: error: ...``), not only the
first one the server would stop at. Errors the plugins word without a position are placed at
the token their setup was reading.

A Corefile that builds is then searched for configurations that work but hurt in a cluster:

``loop-resolv-conf``
    ``forward . /etc/resolv.conf`` (any resolv.conf-style TO) whose file names a loopback
    nameserver, such as systemd-resolved's ``127.0.0.53``. With ``dnsPolicy: Default`` the
    DNS pod gets the node's resolv.conf, the loopback address is then the pod itself, the
    *loop* plugin detects the loop and exits: CrashLoopBackOff.
``loop-upstream``
    A literal loopback upstream on a port this Corefile itself listens on: the same loop.
``cache-denial``
    *cache* in a block with *kubernetes*, without ``disable denial`` for the cluster zone:
    CoreDNS keeps NXDOMAIN for a Service created just after a client asked for it for up to
    the denial TTL (kubeadm's Corefile disables it). clusterdns's cache drops cluster answers
    when the data changes, so this only bites under CoreDNS (a rollback) with this Corefile.
``autopath-pods``
    ``autopath @kubernetes`` without ``pods verified``: the kubernetes plugin then never knows
    the client's namespace, and *autopath* silently does nothing (clusterdns's
    ``infer_namespace`` mode is the exception); or no *kubernetes* in the block at all.

The file a resolv.conf TO names is read where ``check`` runs: run it in the DNS pod's
environment (or on the node, for the file kubelet hands to ``dnsPolicy: Default`` pods).

A kubernetes stanza without ``kubeconfig`` or ``endpoint`` uses the pod's service account.
Outside a cluster there is none; ``check`` then sets the stanza up against a stand-in API
address that is never contacted, and says so in a note, instead of failing the Corefile for
where it is checked.

Exit status: 0 when the Corefile sets up (warnings do not fail it unless ``-strict``), 1 when
it does not, 2 for a bad command line.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final, TextIO

from . import registry
from .controller import Controller
from .corefile import Dispenser, ServerBlock, Token, is_subdomain, parse, parse_key
from .errors import ClusterDNSError, ConfigError, CorefileError, PluginSetupError
from .server.config import BlockConfig
from .server.instance import CorefileSource, Instance
from .server.runtime import Runtime

ERROR: Final = "error"
WARNING: Final = "warning"
NOTE: Final = "note"

#: The trap codes printed after a warning, for grep and for tests.
LOOP_RESOLV_CONF: Final = "loop-resolv-conf"
LOOP_UPSTREAM: Final = "loop-upstream"
CACHE_DENIAL: Final = "cache-denial"
AUTOPATH_PODS: Final = "autopath-pods"

#: Where the kubernetes stanza is pointed when this machine has no in-cluster service account.
STAND_IN_API: Final = "https://kubernetes.default.svc"

USAGE: Final = """Usage of clusterdns check:
  -conf string
    \tCorefile to check (default "Corefile"; "stdin" reads standard input)
  -dns.port string
    \tDefault port (default "53")
  -p string
    \tDefault port (default "53")
  -strict
    \tExit 1 on warnings too
"""

_POSITION = re.compile(r"(?P<file>[^\s:][^:]*):(?P<line>\d+) - ")


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing ``check`` reports: an error, a warning (with its trap code) or a note."""

    severity: str
    file: str
    line: int | None
    message: str
    code: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        suffix = f" [{self.code}]" if self.code else ""
        return f"{where}: {self.severity}: {self.message}{suffix}"


@dataclass
class Report:
    """Everything found in one Corefile."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def notes(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == NOTE]

    def codes(self) -> set[str]:
        return {f.code for f in self.findings if f.code}


# --- the check ---------------------------------------------------------------------------


def check(source: CorefileSource, *, default_port: str = "53") -> Report:
    """Build ``source`` as the server would (never starting it) and report what was found."""
    report = Report()
    runtime = Runtime(lambda: source, default_port=default_port, quiet=True)
    stand_ins: list[int] = []
    with _logged_warnings(report, source.path), _in_cluster_stand_in(stand_ins):
        try:
            instance = runtime.build(source)
        except (ClusterDNSError, OSError) as exc:
            report.findings.extend(_every_error(source, runtime, exc))
            return _tidy(report)
    blocks = parse(source.text, source.path, known_directives=registry.names())
    if stand_ins:
        report.findings.extend(_stand_in_notes(blocks, instance, source.path))
    report.findings.extend(_start_errors(blocks, instance, source.path))
    report.findings.extend(_loop_traps(blocks, instance, source.path))
    report.findings.extend(_cache_traps(blocks, instance, source.path))
    report.findings.extend(_autopath_traps(blocks, instance, source.path))
    return _tidy(report)


def _tidy(report: Report) -> Report:
    """Each finding once (a failed build sets plugins up twice), in file and line order."""
    unique = list(dict.fromkeys(report.findings))
    report.findings = sorted(unique, key=lambda f: (f.file, f.line or 0))
    return report


@contextlib.contextmanager
def _logged_warnings(report: Report, path: str) -> Iterator[None]:
    """Warnings the plugins log while they are set up become findings (without a line)."""

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            plugin = getattr(record, "plugin", "")
            text = record.getMessage()
            message = f"plugin/{plugin}: {text}" if plugin else text
            report.findings.append(Finding(WARNING, path, None, message))

    logger = logging.getLogger("clusterdns")
    handler = Collect(logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@contextlib.contextmanager
def _in_cluster_stand_in(used: list[int]) -> Iterator[None]:
    """Let an in-cluster kubernetes stanza set up on a machine without a service account.

    Only the in-cluster case (no ``kubeconfig``, no ``endpoint``) is stood in for; a named
    kubeconfig that cannot be loaded is still an error. The client made from the stand-in
    configuration is never used: nothing is started.
    """
    from kubernetes.client import Configuration

    from .kube import client as kube_client
    from .kube.errors import KubeConfigError

    real = kube_client.load_configuration

    def load(
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        endpoint: str | None = None,
        tls: tuple[str, str, str] | None = None,
    ) -> Configuration:
        try:
            return real(kubeconfig=kubeconfig, context=context, endpoint=endpoint, tls=tls)
        except KubeConfigError:
            if kubeconfig or endpoint:
                raise
            used.append(1)
            configuration = Configuration()
            configuration.host = STAND_IN_API
            return configuration

    kube_client.load_configuration = load
    try:
        yield
    finally:
        kube_client.load_configuration = real


def _every_error(source: CorefileSource, runtime: Runtime, first: BaseException) -> list[Finding]:
    """Set the Corefile up directive by directive as ``build`` does, collecting every error."""
    path = source.path
    try:
        blocks = parse(source.text, path, known_directives=registry.names())
    except CorefileError as exc:  # the parser cannot go on past a syntax error
        return [Finding(ERROR, exc.file, exc.line, exc.message)]
    findings: list[Finding] = []
    instance = Instance(process=runtime, source=source)
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        zones = []
        for key in block.keys:
            try:
                found = parse_key(key.text, runtime.default_port)
            except ConfigError as exc:
                message = f"error inspecting server blocks: {exc}"
                findings.append(Finding(ERROR, key.file or path, key.line, message))
                continue
            for zone in found:
                if str(zone) in seen:
                    message = f"cannot serve {zone} - it is already defined"
                    findings.append(Finding(ERROR, key.file or path, key.line, message))
                seen.add(str(zone))
            zones.extend(found)
        instance.blocks.append(BlockConfig(index=index, zones=zones))
    for directive in registry.names():
        for block, config in zip(blocks, instance.blocks, strict=True):
            if directive not in block.directive_names():
                continue
            tokens = block.tokens(directive)
            dispenser = Dispenser(tokens, file=path)
            controller = Controller(
                directive=directive, dispenser=dispenser, config=config, instance=instance
            )
            try:
                registry.setup_function(directive)(controller)
            except (ClusterDNSError, OSError) as exc:
                findings.append(_setup_error(directive, exc, dispenser, tokens, path))
            else:
                config.directives.append(directive)
    if not findings:
        try:
            for config in instance.blocks:
                config.compile()
        except (ClusterDNSError, OSError) as exc:
            findings.append(_positioned(exc, blocks, path))
    if not findings:  # the build failed where this pass did not look: report what it said
        findings.append(_positioned(first, blocks, path))
    return findings


def _setup_error(
    directive: str, exc: BaseException, dispenser: Dispenser, tokens: Sequence[Token], path: str
) -> Finding:
    """A setup failure at its token: the dispenser error's own, else where setup was reading.

    A failure after the stanza was read (setup left on its closing brace, or on nothing) is
    placed on the directive's own line.
    """
    cause = exc.__cause__ if isinstance(exc, PluginSetupError) else exc
    if isinstance(cause, CorefileError):
        return Finding(ERROR, cause.file, cause.line, f"plugin/{directive}: {cause.message}")
    if isinstance(exc, CorefileError):
        return Finding(ERROR, exc.file, exc.line, f"plugin/{directive}: {exc.message}")
    message = str(exc) if isinstance(exc, PluginSetupError) else f"plugin/{directive}: {exc}"
    file, line, value = dispenser.file(), dispenser.line(), dispenser.val()
    if line and (value != "}" or dispenser.next()):
        return Finding(ERROR, file, line, message)
    # the start of the occurrence the cursor was in: the last directive name at or before it
    starts = [t for t in tokens if t.text == directive and (not line or t.line <= line)]
    start = starts[-1] if starts else tokens[0]
    return Finding(ERROR, start.file or path, start.line, message)


def _positioned(exc: BaseException, blocks: list[ServerBlock], path: str) -> Finding:
    """An error from ``build`` with the position its text carries, else the first block's."""
    text = str(exc)
    match = _POSITION.search(text)
    if match:
        return Finding(ERROR, match["file"], int(match["line"]), text)
    if blocks and blocks[0].keys:
        return Finding(ERROR, blocks[0].keys[0].file or path, blocks[0].keys[0].line, text)
    return Finding(ERROR, path, None, text)


# --- what only starting would have found -------------------------------------------------


def _directive_line(block: ServerBlock, directive: str, path: str) -> tuple[str, int | None]:
    tokens = block.tokens(directive)
    if not tokens:
        key = block.keys[0] if block.keys else None
        return (key.file or path, key.line) if key else (path, None)
    return tokens[0].file or path, tokens[0].line


def _start_errors(blocks: list[ServerBlock], instance: Instance, path: str) -> list[Finding]:
    """Failures ``Runtime.start`` would raise before serving, checked without starting."""
    from .plugin import AutoPather

    findings = []
    for block, config in zip(blocks, instance.blocks, strict=True):
        key = block.keys[0]
        for address in sorted({address for address, _ in config.listen_addresses()}):
            message = ""
            if address.transport != "dns":
                message = f"transport {address.transport}:// is not supported, only dns://"
            elif not 0 <= address.port <= 65535:
                message = f"listen {address}: invalid port {address.port}"
            if message:
                findings.append(Finding(ERROR, key.file or path, key.line, message))
    for block, config in zip(blocks, instance.blocks, strict=True):
        autopath = config.handler("autopath")
        plugin = getattr(getattr(autopath, "options", None), "plugin", "")
        if not plugin:
            continue
        found = config.handler(plugin)
        if found is not None and not isinstance(found, AutoPather):
            file, line = _directive_line(block, "autopath", path)
            message = f"plugin/autopath: {plugin} does not implement the AutoPather interface"
            findings.append(Finding(ERROR, file, line, message))
    return findings


def _stand_in_notes(blocks: list[ServerBlock], instance: Instance, path: str) -> list[Finding]:
    findings = []
    for block, config in zip(blocks, instance.blocks, strict=True):
        options = getattr(config.handler("kubernetes"), "options", None)
        if options is None or options.kubeconfig or options.endpoint or options.manifests:
            continue
        file, line = _directive_line(block, "kubernetes", path)
        message = (
            "kubernetes: no in-cluster service account here; set up against a stand-in API "
            "address that was not contacted (in the pod, the service account is used)"
        )
        findings.append(Finding(NOTE, file, line, message))
    return findings


# --- the traps ---------------------------------------------------------------------------


def _forward_lines(block: ServerBlock, path: str) -> Iterator[tuple[str, int, list[str]]]:
    """(file, line, TO arguments) of each ``forward`` line of a block."""
    tokens = block.tokens("forward")
    d = Dispenser(tokens, file=path)
    while d.next():
        file, line = d.file(), d.line()
        if not d.next_arg():
            continue
        yield file, line, d.remaining_args()
        while d.next_block():
            pass


def _to_kind(to: str) -> tuple[str, str, int]:
    """What a forward TO is, read as the forward plugin reads it.

    ("ip", host, port), ("file", path, 0), or ("other", TO, 0) for schemes other than dns.
    """
    from .plugins.forward.addresses import is_ip, split_host_port, split_scheme, strip_zone

    scheme, host = split_scheme(to)
    if scheme != "dns":
        return "other", to, 0
    try:
        address, port = split_host_port(host)
    except ValueError:
        bare = host.strip("[]")
        if is_ip(strip_zone(bare)):
            return "ip", strip_zone(bare), 53
        return "file", bare, 0
    if is_ip(strip_zone(address)):
        return "ip", strip_zone(address), int(port) if port.isdigit() else 53
    return "file", host, 0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _loop_traps(blocks: list[ServerBlock], instance: Instance, path: str) -> list[Finding]:
    from .plugins.forward.addresses import AddressError, read_resolv_conf, split_host_port

    listen_ports = {address.port for address in instance.muxes}
    findings = []
    for block in blocks:
        for file, line, targets in _forward_lines(block, path):
            for to in targets:
                kind, where, port = _to_kind(to)
                if kind == "ip" and _is_loopback(where) and port in listen_ports:
                    message = (
                        f"forward to {to}: a loopback upstream on port {port}, which this "
                        "Corefile itself listens on, is a forwarding loop; loop will exit "
                        "and the pod will crash-loop"
                    )
                    findings.append(Finding(WARNING, file, line, message, LOOP_UPSTREAM))
                if kind != "file":
                    continue
                try:
                    servers = read_resolv_conf(where)
                except AddressError:
                    continue  # unreadable: setup has already said so
                loopback = [s for s in servers if _is_loopback(split_host_port(s)[0])]
                if not loopback:
                    continue
                names = ", ".join(split_host_port(s)[0] for s in loopback)
                message = (
                    f"forward to {to}: it names the loopback nameserver {names}. With "
                    "dnsPolicy: Default the DNS pod gets the node's resolv.conf and that address "
                    "is the pod itself: a forwarding loop, which the loop plugin turns into "
                    "CrashLoopBackOff. Point kubelet's resolvConf at a file with the real "
                    "upstreams (systemd-resolved: /run/systemd/resolve/resolv.conf) or forward "
                    "to the upstream addresses"
                )
                findings.append(Finding(WARNING, file, line, message, LOOP_RESOLV_CONF))
    return findings


def _cache_traps(blocks: list[ServerBlock], instance: Instance, path: str) -> list[Finding]:
    findings = []
    for block, config in zip(blocks, instance.blocks, strict=True):
        cache = getattr(config.handler("cache"), "options", None)
        kubernetes = getattr(config.handler("kubernetes"), "options", None)
        if cache is None or kubernetes is None:
            continue
        cluster = kubernetes.zones[kubernetes.primary_zone_index]
        if not any(is_subdomain(cluster, zone) for zone in cache.zones):
            continue  # the cache is not in front of the cluster zone
        if any(is_subdomain(cluster, zone) for zone in cache.denial_disabled_zones):
            continue
        shown = cluster.rstrip(".") or "."
        file, line = _directive_line(block, "cache", path)
        message = (
            f"cache in front of kubernetes without 'disable denial {shown}': CoreDNS keeps an "
            f"NXDOMAIN for a Service created just after a client asked for it for up to "
            f"{cache.denial_max_ttl_seconds}s (clusterdns drops it when the Service appears, "
            "CoreDNS does not, so this bites on a rollback); kubeadm's Corefile has "
            f"'disable success {shown}' and 'disable denial {shown}'"
        )
        findings.append(Finding(WARNING, file, line, message, CACHE_DENIAL))
    return findings


def _autopath_traps(blocks: list[ServerBlock], instance: Instance, path: str) -> list[Finding]:
    findings = []
    for block, config in zip(blocks, instance.blocks, strict=True):
        autopath = getattr(config.handler("autopath"), "options", None)
        if autopath is None or autopath.plugin != "kubernetes":
            continue
        file, line = _directive_line(block, "autopath", path)
        kubernetes = getattr(config.handler("kubernetes"), "options", None)
        if kubernetes is None:
            message = (
                "autopath @kubernetes, but this block has no kubernetes plugin: autopath does "
                "nothing"
            )
            findings.append(Finding(WARNING, file, line, message, AUTOPATH_PODS))
        elif kubernetes.pods != "verified" and not getattr(autopath, "infer_namespace", False):
            message = (
                f"autopath @kubernetes with 'pods {kubernetes.pods}': only 'pods verified' "
                "lets the kubernetes plugin know a client's namespace, so autopath does "
                "nothing; add 'pods verified' to the kubernetes stanza (a pod watch: more "
                "memory, see deploy/) or remove autopath"
            )
            findings.append(Finding(WARNING, file, line, message, AUTOPATH_PODS))
    return findings


# --- the command -------------------------------------------------------------------------


class UsageError(Exception):
    """A command line Go's flag package would reject."""


@dataclass
class Options:
    conf: str = "Corefile"
    port: str = "53"
    strict: bool = False


def parse_args(argv: list[str]) -> Options:
    """Go-style flags, as the server's own: ``-conf x``, ``--conf=x``."""
    options = Options()
    index = 0
    while index < len(argv):
        arg = argv[index]
        if not arg.startswith("-") or arg in ("-", "--"):
            raise UsageError(f"extra command line arguments: {argv[index:]}")
        name, eq, value = arg.lstrip("-").partition("=")
        if name in ("conf", "dns.port", "p"):
            if not eq:
                index += 1
                if index >= len(argv):
                    raise UsageError(f"flag needs an argument: -{name}")
                value = argv[index]
            if name == "conf":
                options.conf = value
            else:
                options.port = value
        elif name == "strict":
            if eq and value.lower() not in {"1", "0", "t", "f", "true", "false"}:
                raise UsageError(f'invalid boolean value "{value}" for -{name}')
            options.strict = not eq or value.lower() in {"1", "t", "true"}
        elif name in ("h", "help"):
            raise UsageError("")
        else:
            raise UsageError(f"flag provided but not defined: -{name}")
        index += 1
    return options


def main(argv: list[str], *, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """``clusterdns check [-conf FILE] [-dns.port PORT] [-strict]``; 0 ok, 1 failed, 2 usage."""
    out = out or sys.stdout
    try:
        options = parse_args(argv)
    except UsageError as exc:
        if str(exc):
            print(exc, file=sys.stderr)
        print(USAGE, file=sys.stderr, end="")
        return 2
    if options.conf == "stdin":
        source = CorefileSource((stdin or sys.stdin).read(), "stdin")
    else:
        try:
            with open(options.conf, encoding="utf-8") as file:
                source = CorefileSource(file.read(), options.conf)
        except OSError as exc:
            print(f"{options.conf}: error: {exc.strerror or exc}", file=out)
            return 1
    report = check(source, default_port=options.port)
    for finding in report.findings:
        print(finding, file=out)
    failed = bool(report.errors) or (options.strict and bool(report.warnings))
    counts = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    print(f"{source.path}: {'FAILED' if failed else 'OK'} ({counts})", file=out)
    return 1 if failed else 0


__all__ = ["Finding", "Report", "check", "main"]
