"""hosts: serves A, AAAA and PTR records from an /etc/hosts-style file and inline entries."""

from .setup import setup

__all__ = ["setup"]
