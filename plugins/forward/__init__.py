"""forward: proxies queries to upstream resolvers over UDP, TCP or TLS, with health checks."""

from .setup import setup

__all__ = ["setup"]
