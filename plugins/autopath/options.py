"""What an ``autopath`` directive configures (``setup.parse`` builds it, the handler reads it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: The block option of the client-independent mode (clusterdns only; see README.md).
INFER_NAMESPACE: Final = "infer_namespace"


@dataclass(frozen=True, slots=True)
class AutoPathOptions:
    """A parsed ``autopath`` directive."""

    #: zones autopath acts in, normalised (the block's keys by default)
    zones: tuple[str, ...] = ()
    #: the search list read from RESOLV-CONF, normalised, ending with "" (empty with @PLUGIN)
    search: tuple[str, ...] = ()
    #: the handler named after "@" that gives a search list per query ('' for a file)
    plugin: str = ""
    #: let the plugin infer the client's namespace from the query name when it does not know
    #: the client (``infer_namespace``); off, as CoreDNS
    infer_namespace: bool = False
