"""ready: a readiness endpoint, ``/ready``, that is 200 once every reporting plugin is ready."""

from .setup import setup

__all__ = ["setup"]
