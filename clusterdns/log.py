"""Logging in CoreDNS's format: ``[LEVEL] plugin/<name>: message`` on stdout, no timestamp.

Operators grep CoreDNS logs and feed them to pipelines that expect exactly this shape
(coredns-features.md 1.3), so every line clusterdns prints goes through here. Core messages have
no prefix; a plugin's logger adds ``plugin/<name>: ``; the query log (*log* plugin) writes its
own line with no prefix. ``[DEBUG]`` lines appear only when the *debug* plugin is loaded.
"""

from __future__ import annotations

import logging
import sys
from typing import Final

ROOT: Final = "clusterdns"
_LEVEL_NAMES: Final = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "FATAL",
}


class CoreDNSFormatter(logging.Formatter):
    """``[LEVEL] plugin/<name>: message`` for plugin loggers, ``[LEVEL] message`` otherwise."""

    def format(self, record: logging.LogRecord) -> str:
        level = _LEVEL_NAMES.get(record.levelno, record.levelname)
        plugin = getattr(record, "plugin", None)
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        if plugin:
            return f"[{level}] plugin/{plugin}: {message}"
        return f"[{level}] {message}"


class _PluginAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg, kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("extra", {})["plugin"] = self.extra["plugin"]  # type: ignore[index]
        return msg, kwargs


def core_logger() -> logging.Logger:
    """The logger for lines with no plugin prefix."""
    return logging.getLogger(ROOT)


def plugin_logger(name: str) -> logging.LoggerAdapter:  # type: ignore[type-arg]
    """The logger of plugin ``name``: its lines read ``[LEVEL] plugin/<name>: ...``."""
    return _PluginAdapter(logging.getLogger(f"{ROOT}.plugin.{name}"), {"plugin": name})


def configure(stream=None) -> None:  # type: ignore[no-untyped-def]
    """Send clusterdns's log lines to stdout (or ``stream``) in CoreDNS's format."""
    root = logging.getLogger(ROOT)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(CoreDNSFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def set_debug(enabled: bool) -> None:
    """Show ``[DEBUG]`` lines (the *debug* plugin's process-wide switch)."""
    logging.getLogger(ROOT).setLevel(logging.DEBUG if enabled else logging.INFO)
