"""The options of one ``forward`` line, with CoreDNS's defaults (``plugin/forward/forward.go``).

A block may hold several ``forward`` lines; each becomes its own ``ForwardOptions`` and its own
handler, chained in Corefile order. Durations are seconds (floats) as asyncio wants them; the
constants carry their units in their names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

#: At most this many TO entries per ``forward`` line (CoreDNS ``max``).
MAX_UPSTREAMS: Final = 15
DEFAULT_MAX_FAILS: Final = 2
DEFAULT_HEALTH_CHECK_SECONDS: Final = 0.5
DEFAULT_EXPIRE_SECONDS: Final = 10.0
DEFAULT_READ_TIMEOUT_SECONDS: Final = 2.0
#: Without ``max_connect_attempts`` a query may try this many exchanges per upstream (1.14.7).
DEFAULT_CONNECT_ATTEMPTS_PER_UPSTREAM: Final = 2
DEFAULT_POLICY: Final = "random"
POLICIES: Final = ("random", "round_robin", "sequential")
DEFAULT_HEALTH_CHECK_DOMAIN: Final = "."
DNS_PORT: Final = 53
TLS_PORT: Final = 853


@dataclass(frozen=True, slots=True)
class UpstreamAddress:
    """One destination: transport (``dns`` or ``tls``), IP and port, TLS server name if any."""

    transport: str
    host: str  # an IP address, an IPv6 zone kept (``fe80::1%eth0``)
    port: int
    server_name: str = ""  # from ``tls://IP%NAME``

    @property
    def addr(self) -> str:
        """``ip:port`` as Go writes it (``[::1]:53``): the ``to`` label and log text."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """The ``tls [CERT KEY [CA]] | [CA]`` files (already made absolute) and ``tls_servername``."""

    cert: str = ""
    key: str = ""
    ca: str = ""
    server_name: str = ""


@dataclass(frozen=True, slots=True)
class ForwardOptions:
    """Everything one ``forward FROM TO... { ... }`` line configures."""

    from_zone: str
    upstreams: tuple[UpstreamAddress, ...]
    ignored: tuple[str, ...] = ()
    max_fails: int = DEFAULT_MAX_FAILS
    health_check_seconds: float = DEFAULT_HEALTH_CHECK_SECONDS
    health_check_recursion_desired: bool = True
    health_check_domain: str = DEFAULT_HEALTH_CHECK_DOMAIN
    force_tcp: bool = False
    prefer_udp: bool = False
    expire_seconds: float = DEFAULT_EXPIRE_SECONDS
    max_age_seconds: float = 0.0  # 0: connections live until idle for ``expire``
    max_idle_conns: int = 0  # 0: no limit
    read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS
    max_concurrent: int = 0  # 0: no limit
    #: the ``max_concurrent`` argument as written, for the error text (CoreDNS keeps ``c.Val()``)
    max_concurrent_text: str = ""
    #: None: ``DEFAULT_CONNECT_ATTEMPTS_PER_UPSTREAM`` per upstream; 0: no cap
    max_connect_attempts: int | None = None
    policy: str = DEFAULT_POLICY
    next_rcodes: tuple[int, ...] = ()
    next_on_nodata: bool = False
    failover_rcodes: tuple[int, ...] = ()
    failfast_all_unhealthy_upstreams: bool = False
    source_address: str = ""
    tls: TLSOptions | None = field(default=None)
