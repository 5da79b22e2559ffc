"""Corefile syntax of *prometheus*: ``prometheus [ADDRESS] { runtime_metrics }``.

Once per server block. The directive is ``prometheus`` and the package ``metrics``, exactly as
in CoreDNS (``prometheus:metrics`` in plugin.cfg). It adds the recording handler to the block's
chain and mounts ``/metrics`` on the process-wide HTTP server for its address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from clusterdns.controller import Controller
from clusterdns.httpserver import address_argument

from .exporter import Exporter
from .metrics import Metrics

DEFAULT_ADDRESS: Final = "localhost:9153"


@dataclass(frozen=True, slots=True)
class MetricsOptions:
    """What a ``prometheus`` directive configures."""

    address: str = DEFAULT_ADDRESS
    #: Accepted for compatibility; there is no Go runtime to export (see README).
    runtime_metrics: bool = False


def parse(c: Controller) -> MetricsOptions:
    d = c.dispenser
    address = DEFAULT_ADDRESS
    runtime_metrics = False
    seen = False
    while d.next():
        if seen:
            raise c.once_error()
        seen = True
        address = address_argument(c, address)
        while d.next_block():
            if d.val() == "runtime_metrics":
                if d.remaining_args():
                    raise d.arg_err()
                runtime_metrics = True
            elif d.val() == "tls":
                # CoreDNS serves /metrics over TLS from an exporter-toolkit web config; refusing
                # is safer than silently serving plain HTTP where TLS was asked for.
                raise d.err("tls is not supported by clusterdns")
            else:
                raise d.errf("unknown option: %s", d.val())
    return MetricsOptions(address=address, runtime_metrics=runtime_metrics)


def setup(c: Controller) -> None:
    options = parse(c)
    exporter = Exporter(c, address=options.address)
    c.on_startup(exporter.start)
    c.on_shutdown(exporter.stop)
    c.add_plugin(Metrics)
