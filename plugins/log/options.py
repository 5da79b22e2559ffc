"""The parsed configuration of *log*: one rule per name, in Corefile order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from clusterdns.response import Class

#: The names a ``class`` line accepts (CoreDNS ``response.ClassFromString``); ``all`` is the default.
ALL: Final = Class.ALL
CLASSES: Final = frozenset(Class)


@dataclass(frozen=True, slots=True)
class Rule:
    """Log queries for ``name_scope`` and below, in ``format``, when the reply is of ``classes``."""

    name_scope: str  # fully qualified, as written (matching ignores case)
    format: str
    classes: frozenset[str] = frozenset({ALL})


@dataclass(frozen=True, slots=True)
class LogOptions:
    """Every ``log`` line of a block; the first rule whose name matches a query applies."""

    rules: tuple[Rule, ...]
