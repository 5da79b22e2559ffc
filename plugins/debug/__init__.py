"""debug: print ``[DEBUG]`` lines and tracebacks of recovered plugin failures."""

from .setup import setup

__all__ = ["setup"]
