"""bind: choose the addresses a server block listens on (addresses or interface names)."""

from .setup import setup

__all__ = ["setup"]
