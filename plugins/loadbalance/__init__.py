"""loadbalance: shuffles A, AAAA and MX records in replies, CNAMEs first; optional subnet preference."""

from .setup import setup

__all__ = ["setup"]
