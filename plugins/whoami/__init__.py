"""whoami: answers every query with the client's address, port and transport."""

from .setup import setup

__all__ = ["setup"]
