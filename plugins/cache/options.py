"""The options of a ``cache`` directive, with CoreDNS's defaults (``plugin/cache/cache.go``).

Durations CoreDNS reads as Go durations (``servfail``, ``prefetch``, ``serve_stale``) are kept
as float seconds; the per-cache TTL bounds are whole seconds because CoreDNS reads them with
``strconv.Atoi``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Entries per cache before shards start evicting (``defaultCap``); 256 shards of 39 = 9984.
DEFAULT_CAPACITY: Final = 10000
#: Upper bound of a positive answer's cache duration (``dnsutil.MaximumDefaultTTL``).
MAX_TTL_SECONDS: Final = 3600
#: Upper bound of a denial's cache duration (half the positive one).
MAX_DENIAL_TTL_SECONDS: Final = 1800
#: Lower bound of both caches' durations (``dnsutil.MinimalDefaultTTL``).
MIN_TTL_SECONDS: Final = 5
#: How long SERVFAIL/NOTIMP replies are cached unless ``servfail`` says otherwise.
DEFAULT_SERVFAIL_SECONDS: Final = 5.0
#: RFC 2308 forbids caching a server failure for longer than this.
MAX_SERVFAIL_SECONDS: Final = 300.0
#: ``prefetch AMOUNT`` without DURATION: hits must come no further apart than this.
DEFAULT_PREFETCH_DURATION_SECONDS: Final = 60.0
#: ``prefetch`` without PERCENTAGE: refresh when 10% of the original TTL is left.
DEFAULT_PREFETCH_PERCENTAGE: Final = 10
#: ``serve_stale`` without DURATION: serve an expired entry for up to an hour.
DEFAULT_STALE_SECONDS: Final = 3600.0
#: RFC 8767's bound on FAILURE_RECHECK, enforced by CoreDNS.
MAX_STALE_RECHECK_SECONDS: Final = 300.0


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """Everything a ``cache`` directive configures."""

    #: Zones whose names go through the cache (the block's zones when none are given).
    zones: tuple[str, ...] = (".",)
    success_capacity: int = DEFAULT_CAPACITY
    success_max_ttl_seconds: int = MAX_TTL_SECONDS
    success_min_ttl_seconds: int = MIN_TTL_SECONDS
    denial_capacity: int = DEFAULT_CAPACITY
    denial_max_ttl_seconds: int = MAX_DENIAL_TTL_SECONDS
    denial_min_ttl_seconds: int = MIN_TTL_SECONDS
    #: How long SERVFAIL and NOTIMP replies are kept; 0 disables it.
    servfail_seconds: float = DEFAULT_SERVFAIL_SECONDS
    #: Hits needed before an entry is prefetched; 0 disables prefetch.
    prefetch_amount: int = 0
    prefetch_duration_seconds: float = DEFAULT_PREFETCH_DURATION_SECONDS
    prefetch_percentage: int = DEFAULT_PREFETCH_PERCENTAGE
    #: How long past expiry an entry may be served; 0 disables serve_stale.
    stale_seconds: float = 0.0
    #: ``verify``: refresh first and serve stale only when that fails or takes too long.
    verify_stale: bool = False
    #: ``verify TIMEOUT``: how long a client waits for the refresh; 0 waits for the chain.
    verify_timeout_seconds: float = 0.0
    #: TTL of stale replies (RESPONSE_TTL); 0 keeps CoreDNS's legacy 0.
    stale_response_ttl_seconds: int = 0
    #: After a failed stale refresh, do not try again for this long (FAILURE_RECHECK).
    stale_recheck_seconds: float = 0.0
    #: ``serve_stale_policy prefer_positive``: a usable positive entry wins over a denial.
    prefer_positive: bool = False
    #: ``disable success ZONES``: positive answers under these zones are not stored.
    success_disabled_zones: tuple[str, ...] = ()
    #: ``disable denial ZONES``: denials (and server failures) under these are not stored.
    denial_disabled_zones: tuple[str, ...] = ()
    #: ``keepttl``: serve the stored TTL instead of the decremented one.
    keepttl: bool = False
