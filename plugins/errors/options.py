"""The parsed configuration of *errors*: frozen, with CoreDNS's defaults and limits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

#: CoreDNS ``maxRegexpLen``: longer consolidate patterns are refused (bytes, as Go counts).
MAX_REGEXP_LENGTH_BYTES: Final = 10000
#: The level of consolidated summaries when none is given.
DEFAULT_LEVEL: Final = "error"
#: The levels ``consolidate`` accepts, as CoreDNS spells them.
LEVELS: Final = ("warning", "error", "info", "debug")


@dataclass(frozen=True, slots=True)
class ConsolidateRule:
    """``consolidate DURATION REGEXP [LEVEL] [show_first]``."""

    period_ns: int
    regexp_text: str  # as written; the summary line quotes it
    regexp: re.Pattern[str]  # the Go pattern, translated to Python
    level: str = DEFAULT_LEVEL
    show_first: bool = False


@dataclass(frozen=True, slots=True)
class ErrorsOptions:
    """``errors [stdout] { stacktrace; consolidate ... }``."""

    stacktrace: bool = False
    consolidate: tuple[ConsolidateRule, ...] = ()
