"""The options of a ``hosts`` directive, with CoreDNS's defaults (``plugin/hosts/setup.go``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_PATH: Final = "/etc/hosts"
DEFAULT_TTL_SECONDS: Final = 3600
MAX_TTL_SECONDS: Final = 65535
DEFAULT_RELOAD_SECONDS: Final = 5.0


@dataclass(frozen=True, slots=True)
class HostsOptions:
    """Everything a ``hosts`` directive configures."""

    path: str = DEFAULT_PATH
    #: Zones the plugin answers for (the block's zones when none are given).
    origins: tuple[str, ...] = ()
    #: Inline entries, one hosts line each, as written in the block.
    inline: tuple[str, ...] = ()
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    #: How often the file is checked for changes; 0 disables reloading.
    reload_seconds: float = DEFAULT_RELOAD_SECONDS
    auto_reverse: bool = True
    #: Zones ``fallthrough`` applies to; empty means no fallthrough (``.`` means everything).
    fall_zones: tuple[str, ...] = ()
    fallthrough_unsupported: bool = False
