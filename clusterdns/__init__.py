"""clusterdns: a CoreDNS-compatible Kubernetes cluster DNS server.

The package is the core (Corefile, plugin contract, server); the plugins live in
``clusterdns.plugins`` (the top-level ``plugins/`` folder of the source tree).
"""

__version__ = "0.1.0"

#: The CoreDNS release whose behaviour (plugin order, answers, metrics) we match.
COREDNS_COMPAT_VERSION = "1.14.7"

__all__ = ["__version__", "COREDNS_COMPAT_VERSION"]
