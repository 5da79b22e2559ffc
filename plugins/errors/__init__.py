"""errors: logs the errors of the plugins after it, optionally consolidated by pattern."""

from .setup import setup

__all__ = ["setup"]
