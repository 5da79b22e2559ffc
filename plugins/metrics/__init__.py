"""metrics: the *prometheus* directive; per-query metrics and the ``/metrics`` endpoint."""

from .setup import setup

__all__ = ["setup"]
