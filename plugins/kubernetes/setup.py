"""Corefile syntax of *kubernetes* (CoreDNS ``plugin/kubernetes/setup.go`` ``ParseStanza``).

::

    kubernetes [ZONES...] {
        endpoint URL...
        tls CERT KEY CACERT
        kubeconfig KUBECONFIG [CONTEXT]
        apiserver_qps QPS
        apiserver_burst BURST
        apiserver_max_inflight MAX
        namespaces NAMESPACE...
        namespace_labels EXPRESSION
        labels EXPRESSION
        pods disabled|insecure|verified
        endpoint_pod_names
        ttl TTL
        noendpoints
        fallthrough [ZONES...]
        ignore empty_service
        startup_timeout DURATION
        manifests PATH...
    }

``parse`` is pure: it reads the tokens into ``KubernetesOptions`` and raises CoreDNS's errors,
worded as CoreDNS words them. Some come from the dispenser and carry ``file:line`` (argument
counts, ``unknown property``, the ``ttl`` range, the ``apiserver_*`` values, the
``namespaces``/``namespace_labels`` conflict); the others are plain Go errors in CoreDNS and
have no position here either (``non-reverse zone name must be used``, ``wrong value for
pods``, label selectors, ``ignore`` values, ``ttl`` and ``startup_timeout`` parse failures).
``multicluster`` and ``zonal`` are not implemented and are refused as unknown properties.
"""

from __future__ import annotations

import functools
import math
import re
import struct
from collections.abc import Callable
from typing import Final

from clusterdns import netif
from clusterdns.controller import Controller
from clusterdns.corefile.address import normalize_zones
from clusterdns.duration import SECOND, DurationError, parse_duration
from clusterdns.errors import PluginSetupError
from clusterdns.log import plugin_logger

from .controller import Controller as KubernetesController
from .kubernetes import Kubernetes
from .options import (
    MAX_TTL_SECONDS,
    POD_MODES,
    KubernetesOptions,
    LabelSelector,
    SelectorError,
    is_reverse,
    parse_label_selector,
)

log = plugin_logger("kubernetes")

_ATOI: Final = re.compile(r"[+-]?[0-9]+")
_INT64: Final = 2**63
_DECIMAL_FLOAT: Final = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_HEX_FLOAT: Final = re.compile(r"[+-]?0[xX](_?[0-9a-fA-F])*\.?([0-9a-fA-F]_?)*[pP][+-]?[0-9]+")
_SPECIAL_FLOAT: Final = re.compile(r"[+-]?(inf|infinity|nan)", re.IGNORECASE)


def _go_quote(text: str) -> str:
    """Go's ``%q`` of an argument (printable text)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _atoi(text: str) -> int:
    """Go ``strconv.Atoi``; ValueError carries Go's message."""
    if not _ATOI.fullmatch(text):
        raise ValueError(f"strconv.Atoi: parsing {_go_quote(text)}: invalid syntax")
    value = int(text)
    if not -_INT64 <= value < _INT64:
        raise ValueError(f"strconv.Atoi: parsing {_go_quote(text)}: value out of range")
    return value


def _parse_float32(text: str) -> float:
    """Go ``strconv.ParseFloat(text, 32)``; ValueError carries Go's message."""
    prefix = f"strconv.ParseFloat: parsing {_go_quote(text)}: "
    if _SPECIAL_FLOAT.fullmatch(text):
        return float(text.lower().replace("infinity", "inf"))
    if _DECIMAL_FLOAT.fullmatch(text):
        value = float(text)
    elif _HEX_FLOAT.fullmatch(text):
        value = float.fromhex(text.replace("_", ""))
    else:
        raise ValueError(prefix + "invalid syntax")
    try:
        narrowed: float = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        narrowed = math.inf
    if math.isinf(narrowed) and not math.isinf(value):
        raise ValueError(prefix + "value out of range")
    return narrowed


def _selector(c: Controller, args: list[str], what: str) -> LabelSelector:
    text = " ".join(args)
    try:
        return parse_label_selector(text)
    except SelectorError as exc:
        raise c.error(f"unable to parse {what} selector value: '{text}': {exc}") from None


def parse(c: Controller) -> KubernetesOptions:
    """Read the ``kubernetes`` directive (once per block) into ``KubernetesOptions``."""
    d = c.dispenser
    options: KubernetesOptions | None = None
    while d.next():
        if options is not None:
            raise c.once_error()
        options = _parse_stanza(c)
    assert options is not None, "setup runs only for blocks that use the directive"
    return options


def _parse_stanza(c: Controller) -> KubernetesOptions:
    d = c.dispenser
    zones = normalize_zones(d.remaining_args(), c.server_keys)
    primary = next((i for i, zone in enumerate(zones) if not is_reverse(zone)), -1)
    if primary < 0:
        raise c.error("non-reverse zone name must be used")
    values: dict[str, object] = {}
    namespaces: list[str] = []
    while d.next_block():
        option = d.val()
        if option == "endpoint_pod_names":
            if d.remaining_args():
                raise d.arg_err()
            values["endpoint_pod_names"] = True
        elif option == "pods":
            args = d.remaining_args()
            if len(args) != 1:
                raise d.arg_err()
            if args[0] not in POD_MODES:
                raise c.error(
                    f"wrong value for pods: {args[0]},  must be one of: disabled, verified, insecure"
                )
            values["pods"] = args[0]
        elif option == "namespaces":
            args = d.remaining_args()
            if not args:
                raise d.arg_err()
            namespaces.extend(a for a in args if a not in namespaces)
        elif option == "endpoint":
            args = d.remaining_args()
            if not args:
                raise d.arg_err()
            if len(args) > 1:
                log.warning(
                    "Multiple endpoints have been deprecated, only the first specified endpoint '%s' is used",
                    args[0],
                )
            values["endpoint"] = args[0]
        elif option == "tls":
            args = d.remaining_args()
            if len(args) != 3:
                raise d.arg_err()
            values["tls_cert"], values["tls_key"], values["tls_ca"] = args
        elif option == "labels":
            args = d.remaining_args()
            if not args:
                raise d.arg_err()
            values["labels"] = _selector(c, args, "label")
        elif option == "namespace_labels":
            args = d.remaining_args()
            if not args:
                raise d.arg_err()
            values["namespace_labels"] = _selector(c, args, "namespace_label")
        elif option == "fallthrough":
            args = d.remaining_args()
            values["fall_zones"] = tuple(normalize_zones(args)) if args else (".",)
        elif option == "ttl":
            args = d.remaining_args()
            if not args:
                raise d.arg_err()
            try:
                ttl = _atoi(args[0])
            except ValueError as exc:
                raise c.error(str(exc)) from None
            if ttl < 0 or ttl > MAX_TTL_SECONDS:
                raise d.errf("ttl must be in range [0, %d]: %d", MAX_TTL_SECONDS, ttl)
            values["ttl_seconds"] = ttl
        elif option == "noendpoints":
            if d.remaining_args():
                raise d.arg_err()
            values["noendpoints"] = True
        elif option == "ignore":
            args = d.remaining_args()
            if args:
                if args[0] != "empty_service":
                    raise c.error(f"unable to parse ignore value: '{args[0]}'")
                values["ignore_empty_service"] = True
        elif option == "kubeconfig":
            args = d.remaining_args()
            if len(args) not in (1, 2):
                raise d.arg_err()
            values["kubeconfig"] = args[0]
            values["kubeconfig_context"] = args[1] if len(args) == 2 else ""
        elif option == "startup_timeout":
            args = d.remaining_args()
            if not args:
                raise d.arg_err()
            try:
                nanoseconds = parse_duration(args[0])
            except DurationError as exc:
                raise c.error(f"failed to parse startup_timeout: {args[0]}, {exc}") from None
            values["startup_timeout_seconds"] = nanoseconds / SECOND
        elif option == "apiserver_qps":
            args = d.remaining_args()
            if len(args) != 1:
                raise d.arg_err()
            try:
                qps = _parse_float32(args[0])
            except ValueError as exc:
                raise d.errf("invalid apiserver_qps %s: %s", _go_quote(args[0]), exc) from None
            if qps < 0:
                raise d.err("apiserver_qps must be >= 0")
            values["apiserver_qps"] = qps
        elif option in ("apiserver_burst", "apiserver_max_inflight"):
            args = d.remaining_args()
            if len(args) != 1:
                raise d.arg_err()
            try:
                number = _atoi(args[0])
            except ValueError as exc:
                raise d.errf("invalid %s %s: %s", option, _go_quote(args[0]), exc) from None
            if number < 0:
                raise d.errf("%s must be >= 0", option)
            values[option] = number
        elif option == "manifests":
            args = d.remaining_args()
            if not args:
                raise d.arg_err()
            values["manifests"] = tuple(args)
        else:
            raise d.errf("unknown property '%s'", option)
    if namespaces and values.get("namespace_labels") is not None:
        raise d.err("namespaces and namespace_labels cannot both be set")
    return KubernetesOptions(
        zones=tuple(zones),
        primary_zone_index=primary,
        namespaces=tuple(namespaces),
        **values,  # type: ignore[arg-type]
    )


def setup(c: Controller) -> None:
    """Parse the stanza, build the data source, and add the handler to the chain."""
    options = parse(c)
    controller = KubernetesController.for_options(options, c.process.shared)
    config = c.config
    change_listeners: list[Callable[[], None]] = []

    def changed() -> None:
        for listener in change_listeners:
            listener()

    def local_ips() -> list[str]:
        """The server's own addresses: the bound ones, else every non-loopback one (NS glue)."""
        bound = [host for host in config.listen_hosts if host]
        return bound or netif.local_addresses()

    c.add_plugin(
        functools.partial(
            Kubernetes,
            options=options,
            index=controller.index,
            synced=controller.synced,
            local_ips=local_ips,
            change_listeners=change_listeners,
        )
    )
    process = c.process
    started = False  # the shutdown hooks run after a failed start too, even of other plugins

    async def start() -> None:
        nonlocal started
        reloading = process.instance is not None
        started = True
        controller.index.listeners.append(changed)
        await controller.start(options.startup_timeout_seconds, reloading=reloading)

    async def stop() -> None:
        nonlocal started
        if started:
            started = False
            controller.index.listeners.remove(changed)
            await controller.stop()

    c.on_startup(start)
    c.on_shutdown(stop)


__all__ = ["parse", "setup"]
