"""Hosts data: parsing ``/etc/hosts``-style text and the lookup table queries read.

CoreDNS (``plugin/hosts/hostsfile.go``) keeps two maps, one parsed from the file and one from
the Corefile's inline lines, and on every query concatenates what each gives for the name:
file first, then inline. Within one source an exact name beats a ``*.`` wildcard, but the two
sources are looked up independently (a file wildcard and an inline exact entry both answer).

Here the concatenation is done once, when a source is parsed: ``merge`` builds a ``Table``
whose dictionaries give the final answer for a name in one lookup (two for a wildcard), and the
whole table is replaced in one assignment when the file changes. Reading and parsing the file
happens in a worker thread (an ad-blocking hosts file may have 100k lines); only the swap runs
on the event loop, so queries never see a half-built table.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dnslib import AAAA, PTR, A

from clusterdns.corefile.address import matches, normalize_zone
from clusterdns.log import plugin_logger

from . import metrics

log = plugin_logger("hosts")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> IPAddress | None:
    """Go's ``net.ParseIP``: dotted IPv4 or IPv6 text, no zone; IPv4-mapped IPv6 is IPv4."""
    if "%" in text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def wildcard_pattern(name: str) -> str:
    """``*.`` and the name without its first label (miekg's ``NextLabel``); '' for one label."""
    last = len(name) - 1
    dot = name.find(".")
    while 0 <= dot < last:
        backslashes = 0
        while dot - backslashes > 0 and name[dot - backslashes - 1] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:  # an escaped dot is part of the label
            return "*." + name[dot + 1 :]
        dot = name.find(".", dot + 1)
    return ""


def is_wildcard(name: str) -> bool:
    return name.startswith("*.")


@dataclass(slots=True)
class HostsMap:
    """The entries of one source (CoreDNS ``Map``): names to addresses and addresses to names."""

    name4: dict[str, list[A]] = field(default_factory=dict)
    name6: dict[str, list[AAAA]] = field(default_factory=dict)
    wild4: dict[str, list[A]] = field(default_factory=dict)
    wild6: dict[str, list[AAAA]] = field(default_factory=dict)
    #: canonical IP text (Go's ``IP.String``) to PTR rdata of the names that carry it.
    addr: dict[str, list[PTR]] = field(default_factory=dict)

    def __len__(self) -> int:
        """Every address and every reverse name, as CoreDNS's ``Map.Len`` counts them."""
        maps: Iterable[dict[str, list]] = (  # type: ignore[type-arg]
            self.name4, self.name6, self.wild4, self.wild6, self.addr
        )
        return sum(len(values) for m in maps for values in m.values())


def parse_hosts(text: str, *, origins: Sequence[str], auto_reverse: bool) -> HostsMap:
    """Parse hosts-file text: ``IP name [names...]`` per line, ``#`` comments.

    Lines with fewer than two fields or a first field that is not an IP (a ``%zone`` suffix is
    dropped) are skipped. Names are lowercased and fully qualified; names outside ``origins``
    are ignored. ``*.`` names are wildcards and get no reverse entry.
    """
    hosts = HostsMap()
    # Hosts files repeat addresses (ad-block lists use 0.0.0.0 on every line): parse each once.
    parsed: dict[str, tuple[str, A | AAAA, bool] | None] = {}
    for line in text.split("\n"):
        comment = line.find("#")
        if comment >= 0:
            line = line[:comment]
        fields = line.split()
        if len(fields) < 2:
            continue
        address = fields[0]
        if address in parsed:
            entry = parsed[address]
        else:
            ip = parse_ip(address.partition("%")[0])
            if ip is None:
                entry = None
            elif ip.version == 4:
                entry = (str(ip), A(tuple(ip.packed)), True)
            else:
                entry = (str(ip), AAAA(tuple(ip.packed)), False)
            parsed[address] = entry
        if entry is None:
            continue
        key, rdata, v4 = entry
        for raw in fields[1:]:
            name = normalize_zone(raw)
            if not matches(origins, name):
                continue
            if is_wildcard(name):
                target = hosts.wild4 if v4 else hosts.wild6
                target.setdefault(name, []).append(rdata)  # type: ignore[arg-type]
                continue
            target = hosts.name4 if v4 else hosts.name6
            target.setdefault(name, []).append(rdata)  # type: ignore[arg-type]
            if auto_reverse:
                hosts.addr.setdefault(key, []).append(PTR(name))
    return hosts


@dataclass(frozen=True, slots=True)
class Addresses:
    """What a name answers for A and AAAA, file entries first."""

    v4: tuple[A, ...]
    v6: tuple[AAAA, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """The lookup structure queries read: built whole, never changed, replaced on reload."""

    names: dict[str, Addresses]
    wild: dict[str, Addresses]  # keyed by ``*.parent.``
    ptr: dict[str, tuple[PTR, ...]]

    def lookup(self, name: str) -> Addresses | None:
        """The addresses of a lower-cased FQDN, exact entries first, else a wildcard."""
        found = self.names.get(name)
        if found is None:
            pattern = wildcard_pattern(name)
            if pattern:
                found = self.wild.get(pattern)
        return found


def _one_source(exact: dict[str, list], wild: dict[str, list], name: str, pattern: str) -> list:  # type: ignore[type-arg]
    """CoreDNS's per-source lookup: the exact entry if the name has one, else the wildcard."""
    found = exact.get(name)
    if found is None and pattern:
        found = wild.get(pattern)
    return found or []


def merge(file: HostsMap, inline: HostsMap) -> Table:
    """Concatenate file and inline answers per name, exactly as CoreDNS does per query."""
    wildcards = bool(file.wild4 or file.wild6 or inline.wild4 or inline.wild6)
    names: dict[str, Addresses] = {}
    if not wildcards and not (inline.name4 or inline.name6):  # the common case: file only
        name4, name6 = file.name4, file.name6
        for name in {*name4, *name6}:
            names[name] = Addresses(tuple(name4.get(name, ())), tuple(name6.get(name, ())))
        return Table(names, {}, {key: tuple(ptrs) for key, ptrs in file.addr.items()})
    for name in {*file.name4, *file.name6, *inline.name4, *inline.name6}:
        pattern = wildcard_pattern(name) if wildcards else ""
        v4 = _one_source(file.name4, file.wild4, name, pattern) + _one_source(
            inline.name4, inline.wild4, name, pattern
        )
        v6 = _one_source(file.name6, file.wild6, name, pattern) + _one_source(
            inline.name6, inline.wild6, name, pattern
        )
        names[name] = Addresses(tuple(v4), tuple(v6))
    wild: dict[str, Addresses] = {}
    for pattern in {*file.wild4, *file.wild6, *inline.wild4, *inline.wild6}:
        wild[pattern] = Addresses(
            tuple(file.wild4.get(pattern, []) + inline.wild4.get(pattern, [])),
            tuple(file.wild6.get(pattern, []) + inline.wild6.get(pattern, [])),
        )
    ptr: dict[str, tuple[PTR, ...]] = {}
    for key in {*file.addr, *inline.addr}:
        ptr[key] = tuple(file.addr.get(key, []) + inline.addr.get(key, []))
    return Table(names, wild, ptr)


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A freshly read file: its entries, the merged table, and the stat it was read at."""

    file: HostsMap
    table: Table
    mtime_ns: int
    size: int


class Hostsfile:
    """The hosts data of one *hosts* instance: inline entries, the file, and the current table.

    ``table`` is what queries read. ``refresh`` re-reads the file when its mtime or size
    changed (CoreDNS ``readHosts``); a file that cannot be opened (deleted, say) leaves the last
    parsed contents in place.
    """

    def __init__(
        self,
        *,
        path: str,
        origins: Sequence[str],
        auto_reverse: bool,
        inline_lines: Sequence[str],
    ) -> None:
        self.path = path
        self.origins = tuple(origins)
        self.auto_reverse = auto_reverse
        self.inline = (
            parse_hosts("\n".join(inline_lines), origins=self.origins, auto_reverse=auto_reverse)
            if inline_lines
            else HostsMap()
        )
        self.file = HostsMap()
        self.table = merge(self.file, self.inline)
        self._mtime_ns: int | None = None
        self._size: int | None = None

    async def refresh(self) -> bool:
        """Re-read the file if it changed; True when a new table was swapped in."""
        parsed = await asyncio.to_thread(self._read_if_changed, self._mtime_ns, self._size)
        if parsed is None:
            return False
        self.file = parsed.file
        self.table = parsed.table  # the one assignment queries can observe
        self._mtime_ns, self._size = parsed.mtime_ns, parsed.size
        metrics.ENTRIES.labels(self.path).set(len(self.inline) + len(parsed.file))
        metrics.RELOAD_TIMESTAMP.set(parsed.mtime_ns / 1e9)
        log.debug("Parsed hosts file into %d entries", len(parsed.file))
        return True

    def _read_if_changed(self, mtime_ns: int | None, size: int | None) -> _Parsed | None:
        """Runs in a worker thread: stat, and read and parse only when the file changed."""
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                if (stat.st_mtime_ns, stat.st_size) == (mtime_ns, size):
                    return None
                data = handle.read()
        except IsADirectoryError:
            # Go opens a directory fine and then fails to read it: an empty hosts file.
            try:
                stat = os.stat(self.path)
            except OSError:
                return None
            if (stat.st_mtime_ns, stat.st_size) == (mtime_ns, size):
                return None
            data = b""
        except OSError:
            return None  # a warning was logged at setup; keep what we have
        text = data.decode("utf-8", errors="surrogateescape")
        file = parse_hosts(text, origins=self.origins, auto_reverse=self.auto_reverse)
        return _Parsed(file, merge(file, self.inline), stat.st_mtime_ns, stat.st_size)


async def refresh_periodically(hostsfile: Hostsfile, interval_seconds: float) -> None:
    """Re-read the file every interval until cancelled (CoreDNS's reload ticker).

    A failure in one round is logged and the next round runs anyway, so one bad read never
    stops reloading for the life of the instance.
    """
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await hostsfile.refresh()
        except Exception as exc:  # keep the reloader alive whatever one round does
            log.error("reloading %s failed: %s", hostsfile.path, exc)
