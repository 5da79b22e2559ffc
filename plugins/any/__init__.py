"""any: answers ANY queries with the short HINFO reply of RFC 8482."""

from .setup import setup

__all__ = ["setup"]
