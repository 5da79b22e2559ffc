"""Corefile syntax of *cache* and its lifecycle (CoreDNS ``plugin/cache/setup.go``).

::

    cache [TTL] [ZONES...] {
        success CAPACITY [TTL [MINTTL]]
        denial CAPACITY [TTL [MINTTL]]
        prefetch AMOUNT [DURATION [PERCENTAGE%]]
        serve_stale [DURATION [immediate [RESPONSE_TTL [FAILURE_RECHECK]] |
                               verify [TIMEOUT [RESPONSE_TTL [FAILURE_RECHECK]]]]]
        serve_stale_policy prefer_positive
        servfail DURATION
        disable success|denial [ZONES...]
        keepttl
    }

Errors carry CoreDNS's wording (Go's ``strconv`` and ``time`` messages included) and, unlike
CoreDNS's plain ``errors.New`` values, the file and line of the offending token. At startup the
cache looks for handlers of its own block that announce data changes (``DataChangeNotifier``,
the kubernetes plugin) and drops answers under their zones when that data changes; at shutdown
its background refreshes are cancelled.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Final

from clusterdns.controller import Controller
from clusterdns.corefile.address import normalize_zone, normalize_zones
from clusterdns.duration import SECOND, DurationError, parse_duration

from .cache import Cache
from .options import (
    DEFAULT_STALE_SECONDS,
    MAX_SERVFAIL_SECONDS,
    MAX_STALE_RECHECK_SECONDS,
    CacheOptions,
)

_GO_ATOI: Final = re.compile(r"[+-]?[0-9]+")
_INT64: Final = 2**63
_UINT32_MAX: Final = 2**32 - 1


def _go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` for the text of a token (printable text kept, escapes else)."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}")
    out.append('"')
    return "".join(out)


def _atoi(text: str) -> int:
    """Go's ``strconv.Atoi``; raises ValueError with Go's message."""
    if not _GO_ATOI.fullmatch(text):
        raise ValueError(f"strconv.Atoi: parsing {_go_quote(text)}: invalid syntax")
    value = int(text)
    if not -_INT64 <= value < _INT64:
        raise ValueError(f"strconv.Atoi: parsing {_go_quote(text)}: value out of range")
    return value


class _Parser:
    """Reads one ``cache`` stanza; each method handles one option line."""

    def __init__(self, c: Controller) -> None:
        self.c = c
        self.d = c.dispenser
        self.values: dict[str, object] = {}
        self.serve_stale_seen = False
        self.policy_seen = False

    # --- helpers --------------------------------------------------------------------------
    def atoi(self, text: str) -> int:
        try:
            return _atoi(text)
        except ValueError as exc:
            raise self.d.err(str(exc)) from None

    def duration(self, text: str, wrap: str = "") -> int:
        """Nanoseconds of a Go duration; the error optionally prefixed as ``%w`` wraps it."""
        try:
            return parse_duration(text)
        except DurationError as exc:
            raise self.d.err(f"{wrap}{exc}") from None

    # --- the stanza -----------------------------------------------------------------------
    def parse(self) -> CacheOptions:
        d = self.d
        seen = 0
        while d.next():
            if seen:
                raise self.c.once_error()
            seen += 1
            args = d.remaining_args()
            if args:
                try:
                    ttl = _atoi(args[0])
                except ValueError:
                    pass  # not a number: the first zone
                else:
                    if ttl <= 0:
                        raise d.errf("cache TTL can not be zero or negative: %d", ttl)
                    self.values["success_max_ttl_seconds"] = ttl
                    self.values["denial_max_ttl_seconds"] = ttl
                    args = args[1:]
            self.values["zones"] = tuple(normalize_zones(args, self.c.server_keys))
            while d.next_block():
                option = d.val()
                handler = self.options().get(option)
                if handler is None:
                    raise d.arg_err()
                handler()
            if self.policy_seen and not self.serve_stale_seen:
                raise d.err("serve_stale_policy requires serve_stale")
        return CacheOptions(**self.values)  # type: ignore[arg-type]

    def options(self) -> dict[str, Callable[[], None]]:
        return {
            "success": self.option_success,
            "denial": self.option_denial,
            "prefetch": self.option_prefetch,
            "serve_stale": self.option_serve_stale,
            "serve_stale_policy": self.option_serve_stale_policy,
            "servfail": self.option_servfail,
            "disable": self.option_disable,
            "keepttl": self.option_keepttl,
        }

    def _capacity_ttls(self, kind: str) -> None:
        d = self.d
        args = d.remaining_args()
        if not args:
            raise d.arg_err()
        self.values[f"{kind}_capacity"] = self.atoi(args[0])
        if len(args) > 1:
            ttl = self.atoi(args[1])
            if ttl <= 0:
                raise d.errf("cache TTL can not be zero or negative: %d", ttl)
            self.values[f"{kind}_max_ttl_seconds"] = ttl
            if len(args) > 2:
                minimum = self.atoi(args[2])
                if minimum < 0:
                    raise d.errf("cache min TTL can not be negative: %d", minimum)
                self.values[f"{kind}_min_ttl_seconds"] = minimum

    def option_success(self) -> None:
        self._capacity_ttls("success")

    def option_denial(self) -> None:
        self._capacity_ttls("denial")

    def option_prefetch(self) -> None:
        d = self.d
        args = d.remaining_args()
        if not args or len(args) > 3:
            raise d.arg_err()
        amount = self.atoi(args[0])
        if amount < 0:
            raise d.errf("prefetch amount should be positive: %d", amount)
        self.values["prefetch_amount"] = amount
        if len(args) > 1:
            self.values["prefetch_duration_seconds"] = self.duration(args[1]) / SECOND
        if len(args) > 2:
            pct = args[2]
            last = pct[-1:] or "\x00"
            if last != "%":
                raise d.errf("last character of percentage should be `%%`, but is: '%s'", last)
            number = self.atoi(pct[:-1])
            if number < 10 or number > 90:
                raise d.errf("percentage should fall in range [10, 90]: %d", number)
            self.values["prefetch_percentage"] = number

    def option_serve_stale(self) -> None:
        d = self.d
        args = d.remaining_args()
        if len(args) > 5:
            raise d.arg_err()
        self.serve_stale_seen = True
        # each serve_stale line starts from the defaults again, as in CoreDNS
        self.values.update(
            stale_seconds=DEFAULT_STALE_SECONDS,
            verify_stale=False,
            verify_timeout_seconds=0.0,
            stale_response_ttl_seconds=0,
            stale_recheck_seconds=0.0,
        )
        if args:
            up_to = self.duration(args[0])
            if up_to < 0:
                raise d.err("invalid negative duration for serve_stale")
            self.values["stale_seconds"] = up_to / SECOND
        verify = False
        if len(args) > 1:
            mode = args[1].lower()
            if mode not in ("immediate", "verify"):
                raise d.errf("invalid value for serve_stale refresh mode: %s", mode)
            verify = mode == "verify"
            self.values["verify_stale"] = verify
        if len(args) > 2:
            rest = args[2:]
            if verify:
                timeout = self.duration(rest[0], "invalid serve_stale verify timeout: ")
                if timeout < 0:
                    raise d.err("invalid negative timeout for serve_stale verify")
                self.values["verify_timeout_seconds"] = timeout / SECOND
                rest = rest[1:]
            elif len(args) > 4:
                raise d.arg_err()
            if rest:
                self.values["stale_response_ttl_seconds"] = self._stale_ttl(rest[0])
            if len(rest) > 1:
                self.values["stale_recheck_seconds"] = self._stale_recheck(rest[1])

    def option_serve_stale_policy(self) -> None:
        d = self.d
        if self.policy_seen:
            raise d.err("serve_stale_policy can only be specified once")
        self.policy_seen = True
        args = d.remaining_args()
        if len(args) != 1:
            raise d.arg_err()
        if args[0].lower() != "prefer_positive":
            raise d.errf("invalid serve_stale_policy: %s", args[0])
        self.values["prefer_positive"] = True

    def _stale_ttl(self, text: str) -> int:
        d = self.d
        ttl = self.duration(text, "invalid serve_stale response TTL: ")
        if ttl < 0:
            raise d.err("invalid negative response TTL for serve_stale")
        if ttl % SECOND:
            raise d.err("serve_stale response TTL must be a whole number of seconds")
        if ttl // SECOND > _UINT32_MAX:
            raise d.err("serve_stale response TTL exceeds the DNS TTL range")
        return ttl // SECOND

    def _stale_recheck(self, text: str) -> float:
        d = self.d
        recheck = self.duration(text, "invalid serve_stale failure recheck: ")
        if recheck < 0:
            raise d.err("invalid negative failure recheck for serve_stale")
        if recheck > MAX_STALE_RECHECK_SECONDS * SECOND:
            raise d.err("serve_stale failure recheck cannot exceed 5 minutes")
        return recheck / SECOND

    def option_servfail(self) -> None:
        d = self.d
        args = d.remaining_args()
        if len(args) != 1:
            raise d.arg_err()
        value = self.duration(args[0])
        if value < 0:
            raise d.err("invalid negative ttl for servfail")
        if value > MAX_SERVFAIL_SECONDS * SECOND:
            raise d.err("caching SERVFAIL responses over 5 minutes is not permitted")
        self.values["servfail_seconds"] = value / SECOND

    def option_disable(self) -> None:
        d = self.d
        args = d.remaining_args()
        if not args:
            raise d.arg_err()
        zones = tuple(normalize_zone(z) for z in args[1:]) or (".",)
        if args[0] == "denial":
            self.values["denial_disabled_zones"] = zones
        elif args[0] == "success":
            self.values["success_disabled_zones"] = zones
        else:
            raise d.err('cache type for disable must be "success" or "denial"')

    def option_keepttl(self) -> None:
        d = self.d
        if d.remaining_args():
            raise d.arg_err()
        self.values["keepttl"] = True


def parse(c: Controller) -> CacheOptions:
    """Read the ``cache`` directive (once per block) into ``CacheOptions``."""
    return _Parser(c).parse()


def setup(c: Controller) -> None:
    options = parse(c)
    config = c.config
    c.add_plugin(functools.partial(Cache, options=options))

    async def start() -> None:
        cache = config.handler(Cache.name)
        assert isinstance(cache, Cache)
        cache.watch(config.handlers.values())

    async def stop() -> None:
        cache = config.handler(Cache.name)
        if isinstance(cache, Cache):
            await cache.close()

    c.on_startup(start)
    c.on_shutdown(stop)


__all__ = ["parse", "setup"]
