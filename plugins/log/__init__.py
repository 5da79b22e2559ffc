"""log: writes one line per query, in CoreDNS's query log formats, to standard output."""

from .setup import setup

__all__ = ["setup"]
