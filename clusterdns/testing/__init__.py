"""Helpers shared by the tests and by plugin authors (CoreDNS ``plugin/test`` and ``test/``).

``run_corefile`` starts a real server on loopback from a Corefile string (port 0 by default);
``Case`` and ``rr`` write expected answers as tables; the client functions query with dnspython,
an implementation that shares no code with the server's wire library; ``LogLines`` captures
the log lines as printed and awaits one.
"""

from .cases import Case, check, rr
from .client import query, query_raw_tcp, query_raw_udp
from .logs import LogLines
from .server import RunningServer, run_corefile

__all__ = [
    "Case",
    "LogLines",
    "RunningServer",
    "check",
    "query",
    "query_raw_tcp",
    "query_raw_udp",
    "rr",
    "run_corefile",
]
