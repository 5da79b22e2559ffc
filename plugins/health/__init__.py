"""health: a process-wide liveness endpoint, ``/health``, with an optional lameduck on shutdown."""

from .setup import setup

__all__ = ["setup"]
