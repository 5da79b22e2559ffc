"""The ``clusterdns`` command: CoreDNS's flags, startup, signals and exit codes.

Existing manifests start CoreDNS as ``coredns -conf /etc/coredns/Corefile``, so the flags follow
Go's ``flag`` package exactly: ``-x`` and ``--x`` are the same, ``-x=v`` and ``-x v`` both work,
an unknown flag prints usage and exits 2, a stray argument is fatal (exit 1). Signals follow
coredns/caddy ``sigtrap``: SIGTERM/SIGINT stop gracefully, a second SIGINT forces exit 2,
SIGQUIT exits at once, SIGUSR1 reloads the Corefile (keeping the old one if the new is bad),
SIGHUP is ignored.

Three subcommands are separate tools: ``clusterdns resolve NAME ...`` (clusterdns.resolvecmd)
plays a pod's stub resolver against a server and prints every query; ``clusterdns check -conf
FILE`` (clusterdns.check) sets a Corefile up without serving and reports errors and known traps;
``clusterdns migrate kube-dns --configmap FILE`` (clusterdns.migrate) turns a kube-dns ConfigMap
into a Corefile.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from typing import Final, TextIO

from . import COREDNS_COMPAT_VERSION, __version__, registry
from .errors import ClusterDNSError
from .log import configure, core_logger
from .server.instance import CorefileSource
from .server.runtime import Runtime
from .workers import Workers, stop_when_orphaned, worker_number

DEFAULT_COREFILE: Final = "Corefile"
#: With no Corefile at all CoreDNS serves this on every name.
BUILTIN_COREFILE: Final = ".:{port} {{\n    whoami\n    log\n}}\n"

USAGE: Final = """Usage of clusterdns:
  -conf string
    \tCorefile to load (default "Corefile")
  -dns.port string
    \tDefault port (default "53")
  -p string
    \tDefault port (default "53")
  -pidfile string
    \tPath to write pid file
  -plugins
    \tList installed plugins
  -quiet
    \tQuiet mode (no initialization output)
  -version
    \tShow version
  -workers int
    \tServer processes sharing the DNS port (SO_REUSEPORT) (default 1)
"""

_STRING_FLAGS: Final = {"conf", "dns.port", "p", "pidfile", "workers"}
_BOOL_FLAGS: Final = {"plugins", "quiet", "version"}
log = core_logger()


class UsageError(Exception):
    """A command line Go's flag package would reject (exit 2)."""


@dataclass
class Options:
    conf: str | None = None
    port: str = "53"
    pidfile: str | None = None
    plugins: bool = False
    quiet: bool = False
    version: bool = False
    workers: int = 1


def parse_args(argv: list[str]) -> tuple[Options, list[str]]:
    """Parse flags the way Go's ``flag`` package does; return options and leftover args."""
    options = Options()
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            index += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name = arg.lstrip("-")
        if arg.startswith("---") or not name:
            raise UsageError(f"bad flag syntax: {arg}")
        value: str | None = None
        if "=" in name:
            name, value = name.split("=", 1)
        if name in _BOOL_FLAGS:
            truth = True
            if value is not None:
                if value.lower() not in {"1", "0", "t", "f", "true", "false"}:
                    raise UsageError(f'invalid boolean value "{value}" for -{name}')
                truth = value.lower() in {"1", "t", "true"}
            setattr(options, name, truth)
        elif name in _STRING_FLAGS:
            if value is None:
                index += 1
                if index >= len(argv):
                    raise UsageError(f"flag needs an argument: -{name}")
                value = argv[index]
            if name == "conf":
                options.conf = value
            elif name in {"dns.port", "p"}:
                options.port = value
            elif name == "workers":
                if not value.isdigit() or int(value) < 1:
                    raise UsageError(f'invalid value "{value}" for flag -workers: parse error')
                options.workers = int(value)
            else:
                options.pidfile = value
        elif name in {"h", "help"}:
            raise UsageError("")
        else:
            raise UsageError(f"flag provided but not defined: -{name}")
        index += 1
    return options, argv[index:]


def corefile_loader(conf: str | None, port: str, stdin: TextIO) -> tuple[CorefileSource, object]:
    """Read the Corefile as CoreDNS does; return it and a loader for reloads."""
    if conf == "stdin":
        text = stdin.read()
        source = CorefileSource(text, "stdin")
        return source, lambda: source
    if conf is None:
        if not os.path.exists(DEFAULT_COREFILE):
            source = CorefileSource(BUILTIN_COREFILE.format(port=port), "builtin")
            return source, lambda: source
        conf = DEFAULT_COREFILE

    path = conf

    def load() -> CorefileSource:
        with open(path, encoding="utf-8") as file:
            return CorefileSource(file.read(), path)

    return load(), load


async def serve(options: Options, stdin: TextIO, argv: list[str] | None = None) -> int:
    """Run the server until a signal stops it; return the exit code.

    Signals are trapped before the start, as CoreDNS traps them: the start can wait up to
    the kubernetes plugin's ``startup_timeout`` for the API, and a SIGTERM then must exit 0
    and a SIGHUP must not kill the process. With ``-workers N`` this process then starts the
    other N-1 (workers.py).
    """
    try:
        source, loader = corefile_loader(options.conf, options.port, stdin)
    except OSError as exc:
        print(f"{exc.strerror or exc}: {options.conf}", file=sys.stderr)
        return 1
    number = worker_number()
    if options.workers > 1 and source.path == "stdin":
        print("-workers needs a Corefile file, not stdin", file=sys.stderr)
        return 1
    runtime = Runtime(
        loader,  # type: ignore[arg-type]
        default_port=options.port,
        quiet=options.quiet or number > 0,
        reuse_port=options.workers > 1,
        serve_http=number == 0,
        freeze_heap=True,
    )
    loop = asyncio.get_running_loop()
    workers = Workers()
    starting = loop.create_task(_start(runtime, source))
    _trap_signals(runtime, starting, workers)
    try:
        await starting
    except asyncio.CancelledError:  # SIGTERM or SIGINT before the start finished
        await runtime.stop()
        return 0
    except (ClusterDNSError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if options.pidfile and number == 0:
        try:
            with open(options.pidfile, "w", encoding="ascii") as file:
                file.write(f"{os.getpid()}\n")
        except OSError as exc:
            log.error("Could not write pidfile: %s", exc)
    watcher = None
    if number == 0 and options.workers > 1:
        await workers.start(options.workers, argv or [])
    elif number > 0:
        watcher = loop.create_task(stop_when_orphaned(runtime.stop))
    await runtime.stopped.wait()
    if watcher is not None:
        watcher.cancel()
    await workers.wait()
    return 0


async def _start(runtime: Runtime, source: CorefileSource) -> None:
    await runtime.start(runtime.build(source))


def _trap_signals(runtime: Runtime, starting: asyncio.Task[None], workers: Workers) -> None:
    """CoreDNS's (caddy's) signal handling: TERM and INT stop gracefully, a second INT
    forces, QUIT exits at once, USR1 reloads, HUP is ignored. TERM, INT and USR1 reach the
    other workers too."""
    loop = asyncio.get_running_loop()
    interrupts = 0
    stop_task: asyncio.Task[None] | None = None

    def stop(message: str) -> None:
        nonlocal stop_task
        log.info("%s", message)
        workers.signal(signal.SIGTERM)
        if not starting.done():
            starting.cancel()  # serve() then stops the runtime and exits 0
        elif stop_task is None:
            stop_task = loop.create_task(runtime.stop())

    def on_sigint() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            log.info("SIGINT: Force quit")
            os._exit(2)
        stop("SIGINT: Shutting down")

    async def reload() -> None:
        log.info("SIGUSR1: Reloading")
        if runtime.instance is None:
            log.error("SIGUSR1: no server instances are fully running")
            return
        log.info("Reloading")
        try:
            await runtime.reload()
        except (ClusterDNSError, OSError) as exc:
            log.error("SIGUSR1: %s", exc)
            return
        log.info("Reloading complete")

    loop.add_signal_handler(signal.SIGTERM, stop, "SIGTERM: Shutting down servers then terminating")
    loop.add_signal_handler(signal.SIGINT, on_sigint)
    loop.add_signal_handler(signal.SIGQUIT, os._exit, 0)
    def on_sigusr1() -> None:
        workers.signal(signal.SIGUSR1)
        loop.create_task(reload())

    loop.add_signal_handler(signal.SIGUSR1, on_sigusr1)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)


def _run(coro):  # type: ignore[no-untyped-def]
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``clusterdns`` and ``python -m clusterdns``."""
    argv = sys.argv[1:] if argv is None else argv
    # Subcommands, not flags: CoreDNS has none, so a first argument "resolve", "check" or
    # "migrate" would otherwise only be a fatal stray argument.
    if argv and argv[0] == "resolve":
        from .resolvecmd import main as resolve_main

        return resolve_main(argv[1:])
    if argv and argv[0] == "check":
        from .check import main as check_main

        return check_main(argv[1:])
    if argv and argv[0] == "migrate":
        from .migrate import main as migrate_main

        return migrate_main(argv[1:])
    try:
        options, rest = parse_args(argv)
    except UsageError as exc:
        if str(exc):
            print(exc, file=sys.stderr)
        print(USAGE, file=sys.stderr, end="")
        return 2
    if rest:
        print(f"extra command line arguments: {rest}", file=sys.stderr)
        return 1
    if options.version:
        print(f"clusterdns-{__version__} (CoreDNS-{COREDNS_COMPAT_VERSION} compatible)")
        import platform

        print(f"{sys.platform}/{platform.machine()}, python{platform.python_version()}")
        return 0
    if options.plugins:
        print("Server types:\n  dns\n\nCaddyfile loaders:\n  flag\n  default\n\nOther plugins:")
        for name in sorted(registry.names()):
            print(f"  dns.{name}")
        return 0
    configure()
    return int(_run(serve(options, sys.stdin, argv)))


if __name__ == "__main__":
    sys.exit(main())
