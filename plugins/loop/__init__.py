"""loop: detects a static forwarding loop at startup and halts the server (CoreDNS *loop*)."""

from .setup import setup

__all__ = ["setup"]
