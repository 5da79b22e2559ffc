"""The order in which a query tries the upstreams (CoreDNS ``plugin/forward/policy.go``).

``random`` shuffles per query (a coin flip for two), ``round_robin`` rotates the first
upstream per query (the first query starts at the second upstream, as CoreDNS's counter is
incremented before use) and keeps the others in configuration order, ``sequential`` always uses
configuration order.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Policy(Generic[T]):
    """Orders a list of upstreams for one query."""

    name = ""

    def order(self, items: Sequence[T]) -> Sequence[T]:
        raise NotImplementedError


class Random(Policy[T]):
    name = "random"

    def order(self, items: Sequence[T]) -> Sequence[T]:
        n = len(items)
        if n == 1:
            return items
        if n == 2:
            return (items[1], items[0]) if random.getrandbits(1) else items
        return random.sample(items, n)


class RoundRobin(Policy[T]):
    name = "round_robin"

    def __init__(self) -> None:
        self.robin = 0

    def order(self, items: Sequence[T]) -> Sequence[T]:
        self.robin = (self.robin + 1) & 0xFFFFFFFF  # CoreDNS's uint32 counter
        i = self.robin % len(items)
        return (items[i], *items[:i], *items[i + 1 :])


class Sequential(Policy[T]):
    name = "sequential"

    def order(self, items: Sequence[T]) -> Sequence[T]:
        return items


def new_policy(name: str) -> Policy[T]:
    """A fresh policy object (round_robin keeps per-handler state)."""
    if name == "round_robin":
        return RoundRobin()
    if name == "sequential":
        return Sequential()
    return Random()
