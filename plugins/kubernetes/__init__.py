"""kubernetes: cluster DNS answers from the Kubernetes API (or from manifest files)."""

from .setup import setup

__all__ = ["setup"]
