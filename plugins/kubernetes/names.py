"""The query-name grammar of cluster DNS: what the labels left of the zone ask for.

CoreDNS's ``parse.go`` reads the name right to left after the matched zone::

    [_port._proto. | endpoint.] service . namespace . (svc|pod) . zone

* no labels, or just ``svc`` / ``pod``: the apex; nothing is looked up (NODATA);
* a last label other than ``svc`` or ``pod``: an invalid name (NXDOMAIN);
* ``ns.svc``: the namespace only; ``svc.ns.svc``: a service; ``ep.svc.ns.svc``: an endpoint;
* two labels before the service: a port and a protocol, each with its leading ``_``
  stripped when present (``http.tcp.svc.ns.svc`` is read like ``_http._tcp...``);
* three or more: too long (NXDOMAIN). ``*`` and ``any`` are plain labels, not wildcards.

Everything is compared lower-cased, as the query arrives in ``Request.name``. ``Question``
carries what a lookup needs besides: the owner name and the zone in the query's own case,
because answers echo them (``handler.go``: "maintain case of original query").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dnslib import DNSLabel

from clusterdns import wire

SVC: Final = "svc"
POD: Final = "pod"


@dataclass(frozen=True, slots=True)
class RecordRequest:
    """CoreDNS ``recordRequest``: the parts of a name, lower-cased, '' when absent."""

    port: str = ""
    protocol: str = ""
    endpoint: str = ""
    service: str = ""
    namespace: str = ""
    pod_or_svc: str = ""  # "svc", "pod", or '' for the apex forms


#: What the apex, ``svc.<zone>`` and ``pod.<zone>`` parse to: nothing to look up.
EMPTY_REQUEST: Final = RecordRequest()


def strip_underscore(label: str) -> str:
    return label[1:] if label.startswith("_") else label


def parse_request(left: list[str] | tuple[str, ...]) -> RecordRequest | None:
    """Parse the lower-cased labels left of the zone; None for an invalid (NXDOMAIN) name."""
    count = len(left)
    if count == 0 or (count == 1 and left[0] in (SVC, POD)):
        return EMPTY_REQUEST
    kind = left[-1]
    if kind != SVC and kind != POD:
        return None
    if count == 2:
        return RecordRequest(namespace=left[0], pod_or_svc=kind)
    if count == 3:
        return RecordRequest(service=left[0], namespace=left[1], pod_or_svc=kind)
    if count == 4:
        return RecordRequest(endpoint=left[0], service=left[1], namespace=left[2], pod_or_svc=kind)
    if count == 5:
        return RecordRequest(
            port=strip_underscore(left[0]),
            protocol=strip_underscore(left[1]),
            service=left[2],
            namespace=left[3],
            pod_or_svc=kind,
        )
    return None  # too long


def zone_label_count(zone: str) -> int:
    """Labels in a normalised zone (``cluster.local.`` has 2, the root 0)."""
    return 0 if zone == "." else zone.count(".")


@dataclass(slots=True)
class Question:
    """One lookup's view of its name (CoreDNS's ``request.Request`` with ``Zone`` set).

    ``name`` is the lower-cased presentation form, ``qname`` the original one; ``owner`` is the
    name to put on answers (the query's bytes, case kept); ``zone`` is the matched zone as the
    query wrote it, ``zone_labels`` its wire labels; ``left`` the lower-cased labels before it.
    """

    qname: str
    name: str
    owner: DNSLabel
    qtype: int
    zone: str
    zone_labels: tuple[bytes, ...]
    left: list[str]

    def with_type(self, qtype: int) -> Question:
        """The same name asked with another type (CoreDNS's "fake A lookup")."""
        return Question(self.qname, self.name, self.owner, qtype, self.zone, self.zone_labels, self.left)

    def with_name(self, target: str, qtype: int) -> Question:
        """Another name in the same zone (an ExternalName target resolved internally); the zone
        stays the one the query matched, in the query's case, as CoreDNS keeps ``state.Zone``."""
        label = DNSLabel(target)
        return _question(
            str(label), tuple(label.label), qtype, self.zone, self.zone_labels, len(self.zone_labels)
        )


def _text_labels(name: str, labels: tuple[bytes, ...]) -> list[str]:
    """Presentation-form labels of a lower-cased name (escapes kept, as miekg/dns splits)."""
    if "\\" not in name:
        return name[:-1].split(".") if name != "." else []
    return [wire.label_to_text(label.lower()) for label in labels]


def _question(
    qname: str,
    labels: tuple[bytes, ...],
    qtype: int,
    zone: str,
    zone_labels: tuple[bytes, ...],
    zone_count: int,
) -> Question:
    name = qname.lower()
    text = _text_labels(name, labels)
    left = text[: len(text) - zone_count] if zone_count else text
    return Question(qname, name, DNSLabel(list(labels)), qtype, zone, zone_labels, left)


def question_for(qname: str, labels: tuple[bytes, ...], qtype: int, zone_count: int) -> Question:
    """The ``Question`` of a client query whose name is in a zone of ``zone_count`` labels."""
    zone_labels = labels[len(labels) - zone_count :] if zone_count else ()
    if "\\" in qname:
        zone = wire.labels_to_text(zone_labels)
    else:
        zone = qname[len(qname) - _zone_text_length(qname, zone_count) :]
    return _question(qname, labels, qtype, zone, zone_labels, zone_count)


def _zone_text_length(qname: str, zone_count: int) -> int:
    """Characters of the last ``zone_count`` labels of an unescaped FQDN, with the final dot."""
    if zone_count == 0:
        return 1
    end = len(qname) - 1
    position = end
    for _ in range(zone_count):
        position = qname.rfind(".", 0, position)
    return len(qname) - position - 1


__all__ = [
    "EMPTY_REQUEST",
    "POD",
    "Question",
    "RecordRequest",
    "SVC",
    "parse_request",
    "question_for",
    "strip_underscore",
    "zone_label_count",
]
