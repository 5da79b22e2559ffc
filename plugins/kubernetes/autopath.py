"""The kubernetes side of *autopath*: the search path of the pod that sent a query.

CoreDNS ``plugin/kubernetes/autopath.go``: for a query in one of the plugin's zones, with
``pods verified`` and a client address that belongs to a known pod, the list is::

    <podns>.svc.<zone>.  svc.<zone>.  <zone>.  <the server's resolv.conf search>...  ""

(``<zone>`` is the plugin's zone that contains the query name; for the root zone the first
three are ``<podns>.svc.``, ``svc.`` and ``.``). Otherwise there is none and *autopath* leaves
the query alone. The server's own search domains stand in for the node's, as kubelet gives a
pod its node's search domains after the cluster ones; they are read once per plugin instance
(CoreDNS reads them at setup) from ``RESOLV_CONF``, with miekg/dns's rules (the last ``search``
or ``domain`` line; lower-cased, fully qualified; an unreadable file gives none).

clusterdns only, when *autopath* runs with ``infer_namespace`` (it marks the request it hands
over with the metadata flag ``autopath/infer-namespace``): a query that is not from a known pod
but is named ``<name>.<ns>.svc.<zone>`` (at least one label before an existing namespace
``<ns>``) gets the list of a pod in ``<ns>``. Whether the name itself exists is left to the
walk, whose first step asks for it unchanged. What this can get wrong is in
plugins/autopath/README.md.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Final

from clusterdns.corefile.address import matches
from clusterdns.plugin import AUTOPATH_INFER_NAMESPACE
from clusterdns.request import Request
from clusterdns.stub import parse_resolv_conf

from .names import SVC
from .options import POD_MODE_VERIFIED

if TYPE_CHECKING:
    from .kubernetes import Kubernetes

#: The server's own resolv.conf, whose search domains end every list (tests point it elsewhere).
RESOLV_CONF: str = "/etc/resolv.conf"
#: Set by *autopath* ``infer_namespace`` on the request it hands over (the same string there).
INFER_NAMESPACE_METADATA: Final = AUTOPATH_INFER_NAMESPACE

_SVC_LABEL: Final = SVC.encode()
#: The server's search domains, per plugin instance (a reload makes a new instance).
_server_search: weakref.WeakKeyDictionary[Kubernetes, tuple[str, ...]] = weakref.WeakKeyDictionary()


def read_search_domains(path: str) -> tuple[str, ...]:
    """Search domains of a resolv.conf as CoreDNS's ``searchFromResolvConf`` gets them."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as file:
            text = file.read()
    except OSError:
        return ()
    return tuple(d.lower() + "." for d in parse_resolv_conf(text).search)


def server_search_domains(k: Kubernetes) -> tuple[str, ...]:
    """The server's search domains, read on first use by this plugin instance."""
    found = _server_search.get(k)
    if found is None:
        found = _server_search[k] = read_search_domains(RESOLV_CONF)
    return found


def namespace_from_name(k: Kubernetes, req: Request, zone: str) -> str | None:
    """``<ns>`` of a query named ``<name>.<ns>.svc.<zone>`` whose namespace exists; else None."""
    labels = req.query.qname_labels
    zone_labels = 0 if zone == "." else zone.count(".")
    left = len(labels) - zone_labels
    if left < 3 or labels[left - 1].lower() != _SVC_LABEL:
        return None
    namespace = labels[left - 2].lower().decode("ascii", "replace")
    return namespace if k.index.has_namespace(namespace) else None


def search_path(k: Kubernetes, req: Request) -> list[str] | None:
    """The search list for ``req``'s client (see the module docstring), or None."""
    zone = matches(k.zones, req.name)
    if not zone:
        return None
    namespace: str | None = None
    if k.options.pods == POD_MODE_VERIFIED:
        pods = k.index.pods_by_ip(req.remote_ip)
        if pods:
            namespace = pods[0].namespace
    if namespace is None:
        if not req.metadata.get(INFER_NAMESPACE_METADATA):
            return None
        namespace = namespace_from_name(k, req, zone)
        if namespace is None:
            return None
    if zone == ".":
        cluster = [f"{namespace}.{SVC}.", f"{SVC}.", "."]
    else:
        cluster = [f"{namespace}.{SVC}.{zone}", f"{SVC}.{zone}", zone]
    return [*cluster, *server_search_domains(k), ""]


__all__ = [
    "INFER_NAMESPACE_METADATA",
    "RESOLV_CONF",
    "namespace_from_name",
    "read_search_domains",
    "search_path",
    "server_search_domains",
]
