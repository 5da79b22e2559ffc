"""autopath: server-side search path completion (CoreDNS ``plugin/autopath``)."""

from .setup import setup

__all__ = ["setup"]
