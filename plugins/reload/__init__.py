"""reload: reloads the Corefile when its parsed form changes (CoreDNS ``plugin/reload``)."""

from .setup import setup

__all__ = ["setup"]
