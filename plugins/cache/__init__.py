"""cache: answers repeated queries from a positive and a denial cache (CoreDNS *cache*)."""

from .setup import setup

__all__ = ["setup"]
