"""The Corefile: lexing, parsing into server blocks, the plugins' token dispenser, zone keys.

Everything here follows CoreDNS's Corefile handling (coredns/caddy's ``caddyfile`` package and
CoreDNS's zone normalisation) so that a Corefile written for CoreDNS means the same here and
fails with the same ``file:line - Error during parsing: ...`` messages.
"""

from __future__ import annotations

from .address import (
    ZoneAddress,
    is_subdomain,
    matches,
    normalize_zone,
    normalize_zones,
    parse_key,
)
from .dispenser import CorefileSyntaxError, Dispenser
from .lexer import Token, expand_env, tokenize
from .parser import ServerBlock, parse, parse_file

__all__ = [
    "CorefileSyntaxError",
    "Dispenser",
    "ServerBlock",
    "Token",
    "ZoneAddress",
    "expand_env",
    "is_subdomain",
    "matches",
    "normalize_zone",
    "normalize_zones",
    "parse",
    "parse_file",
    "parse_key",
    "tokenize",
]
