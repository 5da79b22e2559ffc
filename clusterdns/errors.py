"""The error tree of clusterdns.

Every error a user can see carries the context CoreDNS gives: a Corefile error names the file
and line (``Corefile:3 - Error during parsing: ...``), a plugin setup error names the plugin
(``plugin/cache: ...``). Query-time failures raise ``PluginError``; the server turns them into
SERVFAIL and the *errors* plugin logs them.
"""

from __future__ import annotations


class ClusterDNSError(Exception):
    """Base class of every error clusterdns raises on purpose."""


class CorefileError(ClusterDNSError):
    """A Corefile that cannot be parsed; formatted like CoreDNS's dispenser errors."""

    def __init__(self, file: str, line: int, message: str) -> None:
        self.file = file
        self.line = line
        self.message = message
        super().__init__(f"{file}:{line} - Error during parsing: {message}")


class ConfigError(ClusterDNSError):
    """A Corefile that parses but cannot be served (bad zone key, duplicate zone, ...)."""


class PluginSetupError(ClusterDNSError):
    """A plugin rejected its configuration; formatted ``plugin/<name>: message``."""

    def __init__(self, plugin: str, message: str) -> None:
        self.plugin = plugin
        self.message = message
        super().__init__(f"plugin/{plugin}: {message}")


class PluginError(ClusterDNSError):
    """A failure while answering a query; the server answers ``rcode`` (SERVFAIL by default).

    The text is ``plugin/<name>: message`` like CoreDNS's ``plugin.Error``; with
    ``prefixed=False`` it is the bare message, for errors CoreDNS passes on as they come
    (forward's ``read udp ...: i/o timeout``), which *errors* ``consolidate`` patterns match.
    """

    def __init__(self, plugin: str, message: str, rcode: int = 2, *, prefixed: bool = True) -> None:
        self.plugin = plugin
        self.message = message
        self.rcode = rcode
        super().__init__(f"plugin/{plugin}: {message}" if prefixed else message)
