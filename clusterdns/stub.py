"""A model of the stub resolvers in pods: which queries glibc and musl send for one lookup.

A pod resolves ``getaddrinfo("api.example.com")`` with the search list and ``ndots`` of the
resolv.conf kubelet wrote, so one lookup becomes many queries, and glibc (Debian, Ubuntu, UBI)
and musl (Alpine) walk the list differently. This module reproduces both walks exactly, so
tests can play a pod against a real server and ``clusterdns resolve`` can show an operator what
a pod sends. It knows no DNS wire format: ``walk`` sends through an ``ask`` callback.

Sources (shared/reference/k8s-dns-spec.md Part 3 and Part 4.1, checked against the code):

* glibc: ``resolv/res_query.c`` ``__res_context_search`` (the order of candidates and when to
  go on) and ``__res_context_query`` (how the A and AAAA answers of one candidate combine into
  one ``h_errno``); ``resolv/nss_dns/dns-host.c`` ``gaih_getanswer_slice`` (which records are
  addresses); ``sysdeps/posix/getaddrinfo.c`` (``h_errno`` -> ``EAI_*``).
* musl: ``src/network/lookup_name.c`` ``name_from_dns_search`` and ``name_from_dns``;
  ``src/network/resolvconf.c`` ``__get_resolv_conf``; ``src/network/res_mkquery.c``.
* kubelet: ``pkg/kubelet/network/dns/dns.go`` (the ClusterFirst file).

Not modelled: ``/etc/hosts`` (both libcs read it before DNS), ``HOSTALIASES``, ``LOCALDOMAIN``
and ``RES_OPTIONS``, retries across several nameservers, and the final RFC 6724 sorting of
addresses (addresses are listed A first, then AAAA, in answer order).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

Libc = Literal["glibc", "musl"]
LIBCS: Final[tuple[Libc, ...]] = ("glibc", "musl")

#: The defaults both libcs use without an ``options`` line (glibc ``resolv/res_init.c``,
#: musl ``resolvconf.c``): ndots:1, timeout:5, attempts:2.
DEFAULT_NDOTS: Final = 1
DEFAULT_TIMEOUT_SECONDS: Final = 5
DEFAULT_ATTEMPTS: Final = 2
#: Both cap ndots at 15 (glibc RES_MAXNDOTS, musl ``x > 15 ? 15 : x``).
MAX_NDOTS: Final = 15
#: At most three nameservers (glibc MAXNS, musl MAXNS); kubelet also merges to three.
MAX_NAMESERVERS: Final = 3
#: kubelet writes ``options ndots:5`` for ClusterFirst pods (the node's options are replaced).
CLUSTER_FIRST_NDOTS: Final = 5
#: musl reads resolv.conf with ``fgets(line, 256)`` and ignores a line that does not fit, so a
#: ``search`` line longer than 254 characters (plus its newline) is dropped entirely.
MUSL_MAX_LINE_CHARS: Final = 254

#: Pseudo rcodes for a query that got no reply.
TIMEOUT: Final = "TIMEOUT"  # no reply within the timeout (every attempt)
UNREACHABLE: Final = "UNREACHABLE"  # ICMP port unreachable: connection refused

_RCODE_NAMES: Final = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE",
}  # fmt: skip

#: What ``gai_strerror`` prints for each error, per libc (glibc ``posix/gai_strerror-strs.h``,
#: musl ``src/network/gai_strerror.c``).
MESSAGES: Final[dict[Libc, dict[str, str]]] = {
    "glibc": {
        "EAI_NONAME": "Name or service not known",
        "EAI_AGAIN": "Temporary failure in name resolution",
        "EAI_NODATA": "No address associated with hostname",
        "EAI_FAIL": "Non-recoverable failure in name resolution",
    },
    "musl": {
        "EAI_NONAME": "Name does not resolve",
        "EAI_AGAIN": "Try again",
        "EAI_NODATA": "Name has no usable address",
        "EAI_FAIL": "Non-recoverable error",
    },
}

# glibc h_errno values (netdb.h)
HOST_NOT_FOUND: Final = "HOST_NOT_FOUND"
TRY_AGAIN: Final = "TRY_AGAIN"
NO_RECOVERY: Final = "NO_RECOVERY"
NO_DATA: Final = "NO_DATA"


# --- resolv.conf -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvConf:
    """What a stub resolver reads from /etc/resolv.conf (the parts a lookup depends on)."""

    search: tuple[str, ...] = ()
    ndots: int = DEFAULT_NDOTS
    nameservers: tuple[str, ...] = ()
    timeout: int = DEFAULT_TIMEOUT_SECONDS
    attempts: int = DEFAULT_ATTEMPTS
    #: Other options, verbatim (``edns0``, ``single-request``, ``no-tld-query``, ...).
    options: tuple[str, ...] = ()

    def text(self) -> str:
        """The file, written the way kubelet writes it."""
        lines = [f"nameserver {ns}" for ns in self.nameservers]
        if self.search:
            lines.append("search " + " ".join(self.search))
        options = [f"ndots:{self.ndots}"] if self.ndots != DEFAULT_NDOTS else []
        if self.timeout != DEFAULT_TIMEOUT_SECONDS:
            options.append(f"timeout:{self.timeout}")
        if self.attempts != DEFAULT_ATTEMPTS:
            options.append(f"attempts:{self.attempts}")
        options += self.options
        if options:
            lines.append("options " + " ".join(options))
        return "\n".join(lines) + "\n"


def _strip_dot(domain: str) -> str:
    """A search domain without its trailing dot; the root stays ``.`` (KEP-4427)."""
    return domain if domain == "." else domain.rstrip(".")


def parse_resolv_conf(text: str) -> ResolvConf:
    """Parse resolv.conf as the libcs do.

    ``nameserver`` lines accumulate (the first three count); ``search`` and ``domain`` lines
    replace the list, so the last one wins (glibc ``res_init.c``, musl ``resolvconf.c``;
    ``domain x`` is a one-element list); ``options`` lines are applied in order, later values
    overriding (``ndots:N`` capped at 15). Comments start with ``#`` or ``;``. A trailing dot
    on a search domain is dropped (it names the same domain).
    """
    search: tuple[str, ...] = ()
    nameservers: list[str] = []
    ndots, timeout, attempts = DEFAULT_NDOTS, DEFAULT_TIMEOUT_SECONDS, DEFAULT_ATTEMPTS
    options: list[str] = []
    for raw in text.splitlines():
        words = raw.split()
        if not words or words[0][0] in "#;":
            continue
        keyword, args = words[0], words[1:]
        if keyword == "nameserver" and args:
            if len(nameservers) < MAX_NAMESERVERS:
                nameservers.append(args[0])
        elif keyword in ("search", "domain"):
            values = args if keyword == "search" else args[:1]
            search = tuple(_strip_dot(d) for d in values)
        elif keyword == "options":
            for option in args:
                name, _, value = option.partition(":")
                if name in ("ndots", "timeout", "attempts") and value.isdigit():
                    number = int(value)
                    if name == "ndots":
                        ndots = min(number, MAX_NDOTS)
                    elif name == "timeout":
                        timeout = number
                    else:
                        attempts = number
                elif option not in options:
                    options.append(option)
    return ResolvConf(search, ndots, tuple(nameservers), timeout, attempts, tuple(options))


def pod_resolv_conf(
    namespace: str,
    zone: str = "cluster.local",
    node_search: Sequence[str] = (),
    nameservers: Sequence[str] = ("10.96.0.10",),
) -> ResolvConf:
    """The resolv.conf kubelet writes for a ``dnsPolicy: ClusterFirst`` pod.

    ``search <ns>.svc.<zone> svc.<zone> <zone>`` followed by the node's search domains
    (trailing dots dropped, duplicates omitted: kubelet ``generateSearchesForDNSClusterFirst``
    and ``omitDuplicates``) and ``options ndots:5`` only, because the node's options are
    replaced, not merged (spec Part 3.2).
    """
    zone = zone.rstrip(".")
    search: list[str] = []
    for domain in (f"{namespace}.svc.{zone}", f"svc.{zone}", zone, *node_search):
        domain = _strip_dot(domain)
        if domain and domain not in search:
            search.append(domain)
    return ResolvConf(tuple(search), CLUSTER_FIRST_NDOTS, tuple(nameservers))


# --- candidates --------------------------------------------------------------------------------


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _join(name: str, domain: str) -> str:
    """``name`` under search ``domain`` as glibc writes it (the root ``.`` gives ``name.``)."""
    domain = _glibc_domain(domain)
    return f"{name}.{domain}." if domain else f"{name}."


def encodable(fqdn: str) -> bool:
    """Whether a name fits in a query: labels of 1-63 octets, at most 253 characters.

    A name that does not fit is never sent: glibc's ``res_nmkquery`` fails (``NO_RECOVERY``),
    musl's ``__res_mkquery`` returns -1 (also for ``name..``, i.e. the search domain ``.``).
    """
    text = fqdn[:-1] if fqdn.endswith(".") else fqdn
    if not text or len(text) > 253:
        return False
    return all(0 < len(label.encode()) <= 63 for label in text.split("."))


def _musl_search(conf: ResolvConf) -> tuple[str, ...]:
    """The search list musl sees: none if kubelet's ``search`` line is longer than its buffer."""
    if len("search " + " ".join(conf.search)) > MUSL_MAX_LINE_CHARS:
        return ()
    return conf.search


def _glibc_plan(name: str, conf: ResolvConf) -> tuple[bool, tuple[str, ...], bool]:
    """(as is first?, search domains to walk, may the name as is come last?) of glibc's
    ``__res_context_search``, before any answer is known."""
    dots = name.count(".")
    trailing = name.endswith(".")
    first = dots >= conf.ndots or trailing
    # RES_DEFNAMES and RES_DNSRCH are on by default: a dotless name and a dotted one without a
    # trailing dot both walk the search list.
    domains = () if trailing else conf.search
    # The name as is comes last unless it came first, or RES_NOTLDQUERY ("no-tld-query") is
    # set for a dotless name that searched; a "." search domain also suppresses it, but only
    # once the walk reaches that domain.
    no_tld = "no-tld-query" in conf.options and dots == 0 and bool(domains)
    return first, domains, not (first or no_tld)


def _glibc_domain(domain: str) -> str:
    """glibc drops one leading dot of a search domain ("." then names the root)."""
    return domain[1:] if domain.startswith(".") else domain


def _is_root(domain: str) -> bool:
    return _glibc_domain(domain) == ""


def candidates(name: str, conf: ResolvConf, libc: Libc) -> tuple[str, ...]:
    """The names ``libc`` would query for ``name``, in order, if every one said "go on".

    - A trailing dot means the name is absolute: only the name itself (both libcs).
    - glibc (``res_query.c``): with at least ``ndots`` dots the name as is first, then each
      search domain; with fewer, each search domain, then the name as is. A search domain of
      ``.`` stands for the name itself, which is then not tried again at the end; a candidate
      too long to encode ends the search list (``NO_RECOVERY`` is neither NXDOMAIN nor NODATA).
    - musl (``lookup_name.c``): with at least ``ndots`` dots the name as is and nothing else
      (no search-list fallback); with fewer, each search domain, then the name as is.
      Candidates too long to encode (and the ``.`` domain, which makes ``name..``) are skipped.
    """
    if libc == "musl":
        names = [_fqdn(name)]
        if name.count(".") < conf.ndots and not name.endswith("."):
            # name_from_dns_search copies "name" "." "domain" as written: "." gives "name..",
            # which __res_mkquery refuses, so musl skips it.
            names[:0] = [f"{name}.{domain}." for domain in _musl_search(conf)]
        return tuple(c for c in names if encodable(c))
    if libc != "glibc":
        raise ValueError(f"unknown libc {libc!r}: glibc or musl")
    first, domains, last = _glibc_plan(name, conf)
    plan: list[str] = [_fqdn(name)] if first else []
    for domain in domains:
        candidate = _join(name, domain)
        if not encodable(candidate):
            break
        plan.append(candidate)
        last = last and not _is_root(domain)
    if last:
        plan.append(_fqdn(name))
    return tuple(c for c in plan if encodable(c))


# --- the walk ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One query a pod sends and the answer it gets."""

    qname: str
    qtype: str  # "A" or "AAAA"
    rcode: str  # "NOERROR", "NXDOMAIN", "SERVFAIL", ... or TIMEOUT / UNREACHABLE
    answers: tuple[str, ...] = ()  # answer-section records, presentation format

    @property
    def replied(self) -> bool:
        return self.rcode not in (TIMEOUT, UNREACHABLE)

    @property
    def nodata(self) -> bool:
        """NOERROR without any answer record."""
        return self.rcode == "NOERROR" and not self.answers


@dataclass(frozen=True)
class Step:
    """One candidate: its A and AAAA queries and what the resolver decided after them."""

    candidate: str
    queries: tuple[Query, ...]
    decision: str  # human readable: "next: ..." or "stop: ..."


@dataclass(frozen=True)
class Result:
    """What ``getaddrinfo`` returns to the application."""

    addresses: tuple[str, ...] = ()
    error: str | None = None  # EAI_NONAME, EAI_AGAIN, EAI_NODATA, EAI_FAIL
    message: str = ""  # the libc's gai_strerror text for ``error``
    canonical: str | None = None  # the candidate whose answer was used
    #: Why this error, when it is not the last answer's (glibc reports an earlier one).
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Walk:
    """A whole lookup: every query in the order sent, per-candidate decisions, the result."""

    name: str
    libc: Libc
    conf: ResolvConf
    steps: tuple[Step, ...]
    result: Result

    @property
    def queries(self) -> tuple[Query, ...]:
        return tuple(q for step in self.steps for q in step.queries)

    @property
    def count(self) -> int:
        return len(self.queries)

    @property
    def sequence(self) -> list[tuple[str, str, str]]:
        """``(qname, qtype, rcode)`` of every query, in order."""
        return [(q.qname, q.qtype, q.rcode) for q in self.queries]


AskResult = tuple[str | int, Sequence[str]]
Ask = Callable[[str, str], Awaitable[AskResult]]


def _rcode_name(rcode: str | int) -> str:
    if isinstance(rcode, int):
        return _RCODE_NAMES.get(rcode, f"RCODE{rcode}")
    return rcode.upper()


def parse_record(text: str) -> tuple[str, str, str]:
    """(owner, type, rdata) of one record in presentation format (TTL and class optional)."""
    tokens = text.split()
    index = 1
    while index < len(tokens) and (tokens[index].isdigit() or tokens[index] in ("IN", "CH", "HS")):
        index += 1
    if index >= len(tokens):
        return (tokens[0].lower() if tokens else "", "", "")
    return tokens[0].lower(), tokens[index].upper(), " ".join(tokens[index + 1 :])


async def _ask_both(ask: Ask, qname: str) -> tuple[Query, Query]:
    """A and AAAA for one candidate, sent together (glibc: in parallel from one socket; musl:
    ``__res_msend_rc`` with both queries); recorded A first, as both build them."""

    async def one(qtype: str) -> Query:
        try:
            rcode, answers = await ask(qname, qtype)
        except TimeoutError:
            return Query(qname, qtype, TIMEOUT)
        except ConnectionRefusedError:
            return Query(qname, qtype, UNREACHABLE)
        return Query(qname, qtype, _rcode_name(rcode), tuple(" ".join(a.split()) for a in answers))

    a, aaaa = await asyncio.gather(one("A"), one("AAAA"))
    return a, aaaa


def _addresses_glibc(query: Query) -> list[str]:
    """Addresses of one answer as ``gaih_getanswer_slice`` takes them: records of the query
    type owned by the query name or the target of a CNAME met before them."""
    expected = query.qname.lower()
    found = []
    for text in query.answers:
        owner, rtype, rdata = parse_record(text)
        if rtype == "CNAME":
            expected = _fqdn(rdata.lower())
        elif rtype == query.qtype and owner == expected:
            found.append(rdata)
    return found


def _addresses_musl(query: Query) -> list[str]:
    """Addresses of one answer as musl's ``dns_parse_callback`` takes them: every record of
    the query type, whatever its owner."""
    found = []
    for text in query.answers:
        _, rtype, rdata = parse_record(text)
        if rtype == query.qtype:
            found.append(rdata)
    return found


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _fail(libc: Libc, error: str) -> Result:
    return Result(error=error, message=MESSAGES[libc][error])


@dataclass
class _GlibcCandidate:
    """One ``__res_context_query`` with A and AAAA: success, or the ``h_errno`` it sets."""

    queries: tuple[Query, Query]
    success: bool = False
    herrno: str = HOST_NOT_FOUND
    refused: bool = False  # errno ECONNREFUSED: no server answered at all
    first_rcode: str = "NOERROR"  # hp->rcode, the first (A) answer's rcode

    @classmethod
    def judge(cls, a: Query, aaaa: Query) -> _GlibcCandidate:
        """``__res_context_query`` for T_QUERY_A_AND_AAAA.

        A reply missing (timeout, refused) fails the send: ``TRY_AGAIN``, and ``hp->rcode``
        keeps its NOERROR default, so the search loop treats it as "done", not as SERVFAIL.
        Otherwise success when either answer is NOERROR with records; if not, ``h_errno``
        from the first answer's rcode, or the second's when the first is NOERROR: NXDOMAIN ->
        HOST_NOT_FOUND, SERVFAIL -> TRY_AGAIN, NOERROR -> NO_DATA, anything else NO_RECOVERY.
        """
        pair = (a, aaaa)
        if not (a.replied and aaaa.replied):
            refused = all(q.rcode == UNREACHABLE for q in pair if not q.replied)
            return cls(pair, herrno=TRY_AGAIN, refused=refused, first_rcode="NOERROR")
        if any(q.rcode == "NOERROR" and q.answers for q in pair):
            return cls(pair, success=True, first_rcode=a.rcode)
        rcode = aaaa.rcode if a.rcode == "NOERROR" else a.rcode
        herrno = {"NXDOMAIN": HOST_NOT_FOUND, "SERVFAIL": TRY_AGAIN, "NOERROR": NO_DATA}.get(
            rcode, NO_RECOVERY
        )
        return cls(pair, herrno=herrno, first_rcode=a.rcode)


_HERRNO_TEXT: Final = {
    HOST_NOT_FOUND: "NXDOMAIN (HOST_NOT_FOUND)",
    NO_DATA: "NODATA (NO_DATA)",
    TRY_AGAIN: "TRY_AGAIN",
    NO_RECOVERY: "NO_RECOVERY",
}


async def _walk_glibc(name: str, conf: ResolvConf, ask: Ask) -> tuple[list[Step], Result]:
    """``__res_context_search`` (glibc ``resolv/res_query.c``), then getaddrinfo's mapping."""
    steps: list[Step] = []
    first, domains, last = _glibc_plan(name, conf)
    herrno = HOST_NOT_FOUND  # "True if we never query."
    saved: str | None = None
    nodata_at: str | None = None  # got_nodata: the first candidate with NO_DATA
    servfail_at: str | None = None  # got_servfail

    async def query(candidate: str) -> _GlibcCandidate | None:
        """One candidate; None when it cannot be encoded (no query, NO_RECOVERY)."""
        if not encodable(candidate):
            steps.append(Step(candidate, (), "not sent: the name is too long (NO_RECOVERY)"))
            return None
        return _GlibcCandidate.judge(*await _ask_both(ask, candidate))

    def answered(candidate: str, judged: _GlibcCandidate) -> tuple[list[Step], Result]:
        steps.append(Step(candidate, judged.queries, "stop: answered"))
        addresses = tuple(a for q in judged.queries for a in _addresses_glibc(q))
        if not addresses:
            # gaih_getanswer_slice: "a result but it only contains a CNAME" -> HOST_NOT_FOUND
            return steps, _glibc_error(HOST_NOT_FOUND)
        return steps, Result(addresses, canonical=candidate)

    if first:
        candidate = _fqdn(name)
        judged = await query(candidate)
        if judged is not None and judged.success:
            return answered(candidate, judged)
        herrno = NO_RECOVERY if judged is None else judged.herrno
        if judged is not None:
            steps.append(Step(candidate, judged.queries, f"next: {_described(judged)}"))
        if name.endswith("."):  # an absolute name is tried as is only
            return _finish(steps), _glibc_error(herrno)
        saved = herrno
        tried_as_is = True
    else:
        tried_as_is = False

    root_on_list = False
    for domain in domains:
        root_on_list = root_on_list or _is_root(domain)
        candidate = _join(name, domain)
        judged = await query(candidate)
        if judged is None:
            herrno = NO_RECOVERY  # "anything else implies that we're done"
            break
        if judged.success:
            return answered(candidate, judged)
        herrno = judged.herrno
        if judged.refused:  # "If no server present, give up."
            steps.append(Step(candidate, judged.queries, "stop: connection refused (TRY_AGAIN)"))
            return steps, _glibc_error(TRY_AGAIN)
        if herrno == NO_DATA:
            nodata_at = nodata_at or candidate
        elif herrno == TRY_AGAIN and judged.first_rcode == "SERVFAIL":
            servfail_at = servfail_at or candidate  # "try next search element, if any"
        elif herrno != HOST_NOT_FOUND:
            # "anything else implies that we're done" (the name as is may still be tried)
            steps.append(
                Step(candidate, judged.queries, f"end of search list: {_described(judged)}")
            )
            break
        steps.append(Step(candidate, judged.queries, f"next: {_described(judged)}"))

    if last and not (tried_as_is or root_on_list):
        candidate = _fqdn(name)
        judged = await query(candidate)
        if judged is not None and judged.success:
            return answered(candidate, judged)
        herrno = NO_RECOVERY if judged is None else judged.herrno
        if judged is not None:
            steps.append(Step(candidate, judged.queries, f"next: {_described(judged)}"))

    # "if we did an initial full query, return that query's h_errno ... else if we ever got a
    # nodata, send that back as the reason"; else a SERVFAIL seen; else the last query's.
    reason = ""
    if saved is not None:
        herrno = saved
        reason = f"the error of {_fqdn(name)}, asked first"
    elif nodata_at is not None:
        herrno = NO_DATA
        reason = f"glibc reports the NODATA of {nodata_at}"
    elif servfail_at is not None:
        herrno = TRY_AGAIN
        reason = f"glibc reports the SERVFAIL of {servfail_at}"
    return _finish(steps), replace(_glibc_error(herrno), reason=reason)


def _described(judged: _GlibcCandidate) -> str:
    if not all(q.replied for q in judged.queries):
        return "no reply (TRY_AGAIN)"
    if judged.herrno == TRY_AGAIN:
        return "SERVFAIL (TRY_AGAIN)"
    return _HERRNO_TEXT[judged.herrno]


def _finish(steps: list[Step]) -> list[Step]:
    """Mark the last candidate tried as the one the walk stopped after."""
    if steps and steps[-1].decision.startswith("next: "):
        last = steps[-1]
        steps[-1] = Step(
            last.candidate, last.queries, "stop: " + last.decision[6:] + ", no candidate left"
        )
    return steps


def _glibc_error(herrno: str) -> Result:
    """getaddrinfo (``sysdeps/posix/getaddrinfo.c``): TRY_AGAIN -> EAI_AGAIN, NO_DATA ->
    EAI_NODATA ("the name is known, though"), anything else EAI_NONAME."""
    error = {TRY_AGAIN: "EAI_AGAIN", NO_DATA: "EAI_NODATA"}.get(herrno, "EAI_NONAME")
    return _fail("glibc", error)


async def _walk_musl(name: str, conf: ResolvConf, ask: Ask) -> tuple[list[Step], Result]:
    """``name_from_dns_search`` and ``name_from_dns`` (musl ``src/network/lookup_name.c``)."""
    steps: list[Step] = []
    plan = candidates(name, conf, "musl")
    for index, candidate in enumerate(plan):
        last = index == len(plan) - 1
        a, aaaa = await _ask_both(ask, candidate)
        # name_from_dns: the answers in the order the queries were built (A, then AAAA):
        # no reply or SERVFAIL -> EAI_AGAIN; NXDOMAIN -> 0 (try the next candidate);
        # any other rcode but NOERROR -> EAI_FAIL. The first of the two that decides wins.
        verdict: str | None = None
        why = ""
        for query in (a, aaaa):
            if not query.replied or query.rcode == "SERVFAIL":
                verdict = "EAI_AGAIN"
                why = f"{query.qtype} {'SERVFAIL' if query.replied else 'no reply'}"
            elif query.rcode == "NXDOMAIN":
                verdict = "skip"
                why = f"{query.qtype} NXDOMAIN"
            elif query.rcode != "NOERROR":
                verdict = "EAI_FAIL"
                why = f"{query.qtype} {query.rcode}"
            if verdict is not None:
                break
        if verdict == "skip":
            if last:
                steps.append(Step(candidate, (a, aaaa), f"stop: {why}, no candidate left"))
                # __lookup_name: "return cnt ? cnt : EAI_NONAME"
                return steps, _fail("musl", "EAI_NONAME")
            steps.append(Step(candidate, (a, aaaa), f"next: {why}"))
            continue
        if verdict is not None:
            steps.append(Step(candidate, (a, aaaa), f"stop: {why} ({verdict})"))
            return steps, _fail("musl", verdict)
        addresses = tuple(_addresses_musl(a) + _addresses_musl(aaaa))
        if addresses:
            steps.append(Step(candidate, (a, aaaa), "stop: answered"))
            return steps, Result(addresses, canonical=candidate)
        # NOERROR without addresses in both answers: EAI_NODATA, and the search stops here.
        steps.append(Step(candidate, (a, aaaa), "stop: NODATA for A and AAAA (EAI_NODATA)"))
        return steps, _fail("musl", "EAI_NODATA")
    return steps, _fail("musl", "EAI_NONAME")  # every candidate skipped without a query


async def walk(name: str, conf: ResolvConf, libc: Libc, ask: Ask) -> Walk:
    """Resolve ``name`` the way ``libc``'s ``getaddrinfo(AF_UNSPEC)`` does, asking through
    ``ask(qname, qtype) -> (rcode, answer records)``, an A and an AAAA query per candidate.

    ``ask`` may raise ``TimeoutError`` (no reply) or ``ConnectionRefusedError`` (port
    unreachable). Continuation rules:

    - glibc (``res_query.c``): the next candidate on NXDOMAIN, on NODATA and on SERVFAIL of the
      A answer; a candidate succeeds when either answer is NOERROR with records. Other
      failures end the search list, then the name as is is still tried if it was not yet.
      The error reported is the first as-is query's, else NODATA if any candidate had it,
      else TRY_AGAIN if any had SERVFAIL, else the last one's.
    - musl (``lookup_name.c``): a candidate is skipped only if one of its two answers is
      NXDOMAIN; SERVFAIL or no reply stops the lookup with EAI_AGAIN; NOERROR with no
      address in both answers stops it with EAI_NODATA, the remaining candidates untried.
    """
    if libc not in LIBCS:
        raise ValueError(f"unknown libc {libc!r}: glibc or musl")
    if _is_ip_literal(name):
        # Both parse numeric hosts before any lookup (musl name_from_numeric, glibc inet_aton).
        return Walk(name, libc, conf, (), Result((name,), canonical=name))
    stripped = name[:-1] if name.endswith(".") else name
    if not stripped or stripped.endswith("."):
        # musl: "fail if multiple trailing dots"; glibc cannot encode an empty label either.
        return Walk(name, libc, conf, (), _fail(libc, "EAI_NONAME"))
    if libc == "glibc":
        steps, result = await _walk_glibc(name, conf, ask)
    else:
        steps, result = await _walk_musl(name, conf, ask)
    return Walk(name, libc, conf, tuple(steps), result)


__all__ = [
    "LIBCS",
    "MESSAGES",
    "TIMEOUT",
    "UNREACHABLE",
    "Ask",
    "Libc",
    "Query",
    "ResolvConf",
    "Result",
    "Step",
    "Walk",
    "candidates",
    "encodable",
    "parse_record",
    "parse_resolv_conf",
    "pod_resolv_conf",
    "walk",
]
